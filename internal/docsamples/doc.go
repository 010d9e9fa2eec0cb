// Package docsamples keeps README.md and docs/config.md true to the code:
// every sample output they show is what the command prints now, the
// config reference lists exactly the keys the parser accepts, and the
// README stays a front door (at most about 1,000 words). It has tests
// only; `go test ./internal/docsamples -update` rewrites the samples.
package docsamples
