// Package cli is the stsrotator command line: a small subcommand
// dispatcher over the standard flag package, and one file per command.
// Everything the process touches (output streams, environment, clock,
// host identity, AWS configuration, listeners) is a field of App, so each
// command runs in tests exactly as it runs for users.
//
// Output discipline: only credential-process and env print credentials,
// and only to stdout; every other line, on either stream, shows an access
// key in secretfmt.Mask form and never a secret key or session token.
package cli
