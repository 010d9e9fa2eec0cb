//go:build !unix

package cli

import "os"

// ownedByAnother: outside Unix the file's ACL decides; the rename fails
// there if this user may not replace the file.
func ownedByAnother(os.FileInfo) (uid int, foreign bool) { return 0, false }
