// Command stsrotator is the consumer's tool for credentials that
// stsrotator keeps fresh: a credential_process for ~/.aws/config, shell
// exports, a container-credentials endpoint, a credentials-file profile
// kept fresh (update), a diagnosis of where credentials come from
// (doctor), a status table, on-demand rotation and ExpiredToken
// reporting. Run `stsrotator help` for the
// commands; docs/consumers.md shows each in use.
//
// main only wires the process to the cli package, where the commands live
// and are tested.
package main
