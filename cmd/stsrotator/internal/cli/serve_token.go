package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// writeTokenFile puts token in path for the SDKs to read
// (AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE), replacing what an earlier
// serve left there. serve makes a new token at every start: a token kept
// across restarts is handed, by every SDK that reads the file, to whoever
// holds the port while serve is down, and would then open the real serve
// to them (issue 19 §6). The SDKs re-read the file at each refresh
// (botocore ContainerProvider._build_headers, JS v3 fromHttp), so clients
// pick the new token up without a restart.
//
// The file is written atomically: a temporary file in the same directory
// (created with O_EXCL, mode 0600) renamed over path, so a client never
// reads half a token, and rename replaces a symlink rather than writing
// through it. Before that, path itself is looked at without following
// symlinks (Lstat) and refused when it is a symlink, not a regular file,
// or owned by another user, and its directory is refused when other users
// may replace files in it (owned by another user than this one or root,
// or world-writable without the sticky bit). The
// token is written alone, no newline: botocore refuses a token with CR or
// LF (ContainerProvider._validate_auth_token).
func writeTokenFile(path, token string) error {
	if err := tokenFileSafe(path); err != nil {
		return err
	}
	if err := writeAtomic(path, []byte(token)); err != nil {
		return fmt.Errorf("token file: %w", err)
	}
	return nil
}

// tokenFileSafe refuses a token file path another user could read the
// token through or plant a file at.
func tokenFileSafe(path string) error {
	dir := filepath.Dir(path)
	const fix = "(fix: remove it, or give --token-file a path in a directory only you can write, e.g. ~/.stsrotator-serve.token)"
	info, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("token file %s: %w", path, err)
	case info.Mode()&fs.ModeSymlink != 0:
		return coded(ExitUsage, fmt.Errorf("token file %s is a symbolic link; serve does not write its token through links, which could send it to a file another user reads %s", path, fix))
	case !info.Mode().IsRegular():
		return coded(ExitUsage, fmt.Errorf("token file %s is not a regular file (%v) %s", path, info.Mode().Type(), fix))
	default:
		if uid, ok := ownerOf(info); ok && uid != os.Getuid() {
			return coded(ExitUsage, fmt.Errorf("token file %s is owned by uid %d, not by you (uid %d); another user may have planted it %s", path, uid, os.Getuid(), fix))
		}
	}
	d, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("token file %s: directory: %w", path, err)
	}
	if uid, ok := ownerOf(d); ok && !trustedUID(uid) {
		// Its owner may rename anything in it: the token file swapped for
		// a link to one of your files, which your SDKs would read and send
		// as their token to whoever holds the port.
		return coded(ExitUsage, fmt.Errorf("token file %s is in %s, which uid %d owns, not you (uid %d) or root, so that user could replace it %s", path, dir, uid, os.Getuid(), fix))
	}
	if d.Mode().Perm()&0o002 != 0 && d.Mode()&fs.ModeSticky == 0 {
		return coded(ExitUsage, fmt.Errorf("token file %s is in %s, which every user may write to without the sticky bit, so another user could replace it %s", path, dir, fix))
	}
	return nil
}
