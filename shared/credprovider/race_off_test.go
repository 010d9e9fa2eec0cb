//go:build !race

package credprovider

const raceEnabled = false
