// Package suggest finds the word a user most likely meant when they typed
// one that is not valid (a config key, a command, a flag), for "did you
// mean" hints.
package suggest
