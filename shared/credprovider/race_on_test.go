//go:build race

package credprovider

// The race detector multiplies the cost of every memory access, so timing
// budgets are checked only without it.
const raceEnabled = true
