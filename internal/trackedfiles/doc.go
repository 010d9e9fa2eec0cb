// Command trackedfiles fails when the repository tracks a build output: an
// ELF, Mach-O or PE executable, or any file over 1 MB, outside testdata/.
// `make lint` runs it (go run ./internal/trackedfiles), so a binary
// committed by mistake (a 32 MB stsrotator-local once sat at the root)
// fails CI instead of living in every clone forever.
//
// It reads what git tracks (the index), not the work tree: an ignored or
// untracked dist/ is nobody's concern, and a file staged but since deleted
// from disk is still caught.
package main
