// Command stsrotator-local runs the whole of stsrotator on an embedded AWS
// emulator (kumo) and narrates it: `make local`. It only wires; the stack
// and the script live in internal/localstack.
package main
