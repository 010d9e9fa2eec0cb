// Package asset stages a function package — bootstrap plus its config
// files — as a directory whose content, and so whose CDK asset hash,
// depends only on the bytes that go into it.
package asset
