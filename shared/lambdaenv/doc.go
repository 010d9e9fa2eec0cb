// Package lambdaenv is the one home of the environment-variable names and
// file locations that the infra app sets and the functions read. Neither
// side spells these strings itself.
package lambdaenv
