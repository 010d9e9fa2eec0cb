// Package eventschema validates event details against the JSON Schemas
// published in docs/ (events.SchemaFiles), so tests check what the code
// emits against what the documentation promises.
package eventschema
