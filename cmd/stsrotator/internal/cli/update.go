package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/gofrs/flock"
	"gopkg.in/ini.v1"

	"github.com/stsrotator/stsrotator/shared/credprovider"
	"github.com/stsrotator/stsrotator/shared/humantime"
	"github.com/stsrotator/stsrotator/shared/secretfmt"
)

// updateRetry is how long update waits after a failed renewal before it
// tries again; the credentials in the file stay in force meanwhile.
const updateRetry = time.Minute

func (a *App) update(ctx context.Context, args []string) error {
	var c credFlags
	fs := a.flags("update", "--target NAME --profile PROFILE [--credentials-file FILE] [--once]", `
Keeps one profile of the shared credentials file (~/.aws/credentials)
holding the target's current credentials, for programs that read only that
file (legacy boto, rclone without env_auth, JDBC drivers, tools that read
the file at start):

  stsrotator update --target billing --profile billing          # runs until stopped
  stsrotator update --target billing --profile billing --once   # cron, systemd timers

It renews the profile at the refresh hint the rotator writes into the
secret (when it replaces the credentials, the target's refreshBefore ahead
of their expiry), so the file never holds a version past its hint; after a
failed read it retries every minute while the copy in the file is valid.

Here --profile is the profile WRITTEN in the credentials file; the secret
is read with --read-profile, else AWS_PROFILE, else the default chain,
which must not be the written profile itself. Each write replaces only
that profile's aws_access_key_id, aws_secret_access_key and
aws_session_token lines: every other byte of the file (other profiles,
comments, order) stays as it was. It writes a temporary file in the same
directory and renames it over the file (mode 0600), under an advisory lock
(FILE.stsrotator-lock) so that two updates never lose each other's writes,
and refuses a symbolic link or a file another user owns.

Limits: most SDKs read the file once per client (botocore, the AWS CLI),
so a long-running program keeps the copy it read at start; use exec,
serve or credential_process for those. The rename replaces the file, so a
container that bind-mounts the single file keeps the old one: mount the
directory instead.`)
	c.register(fs)
	fs.Lookup("profile").Usage = "credentials-file `profile` to keep fresh (required; the profile WRITTEN, not the identity that reads the secret: see --read-profile)"
	var readProfile, file string
	var once bool
	fs.StringVar(&readProfile, "read-profile", "", "AWS shared config `profile` to read the secret with (default: AWS_PROFILE, else the default chain)")
	fs.StringVar(&file, "credentials-file", "", "shared credentials `file` to write (default: AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials)")
	fs.BoolVar(&once, "once", false, "renew once if needed and exit (for cron and systemd timers)")
	pos, err := a.parse(fs, args)
	if err != nil {
		return err
	}
	if err := noArgs(fs, pos); err != nil {
		return err
	}
	profile := fs.g.Profile
	if err := checkProfileName(profile); err != nil {
		return coded(ExitUsage, err)
	}
	fs.g.Profile = readProfile
	if file == "" {
		file = a.sharedCredentialsFile()
	}
	if file == "" {
		return coded(ExitUsage, errors.New("no home directory to find ~/.aws/credentials in (fix: pass --credentials-file FILE)"))
	}
	if err := a.notReadingWhatItWrites(ctx, readProfile, profile, file); err != nil {
		return err
	}
	r, err := a.resolve(fs.g, c.target, c.secretID)
	if err != nil {
		return err
	}
	cfg, err := a.LoadAWS(ctx, fs.g)
	if err != nil {
		return err
	}
	p := credprovider.New(secretsmanager.NewFromConfig(cfg), r.Target, credprovider.WithSecretID(r.SecretID), credprovider.WithClock(a.Now),
		credprovider.WithReadFailure(func(err error, key string, until time.Time) {
			fmt.Fprintf(a.Stderr, "stsrotator update: cannot re-read the secret (%s); the profile keeps key %s, valid until %s; retrying\n",
				oneLine(err.Error()), key, until.UTC().Format(time.RFC3339))
		}))
	u := &updater{app: a, file: file, profile: profile, target: orTarget(p.Target())}
	for {
		creds, err := a.checked(r, p, c.minValidity)(p.Retrieve(ctx))
		if err == nil {
			err = u.write(ctx, creds)
		}
		if once {
			return err
		}
		next := p.NextRead()
		if err != nil {
			fmt.Fprintf(a.Stderr, "stsrotator update: %s; retrying in %s\n", oneLine(err.Error()), humantime.Span(updateRetry))
			next = a.Now().Add(updateRetry)
		} else if !next.After(a.Now()) {
			next = a.Now().Add(updateRetry)
		}
		if err := a.Sleep(ctx, next.Sub(a.Now())); err != nil {
			return nil // stopped (SIGINT, SIGTERM)
		}
	}
}

// sharedCredentialsFile is the file the SDKs read: AWS_SHARED_CREDENTIALS_FILE,
// else ~/.aws/credentials; "" without a home directory.
func (a *App) sharedCredentialsFile() string {
	if f := a.Getenv("AWS_SHARED_CREDENTIALS_FILE"); f != "" {
		return f
	}
	home := a.Getenv("HOME")
	if home == "" {
		var err error
		if home, err = os.UserHomeDir(); err != nil {
			return ""
		}
	}
	return filepath.Join(home, ".aws", "credentials")
}

// notReadingWhatItWrites refuses to read the secret with the credentials
// update writes: once they expired it could never renew them.
func (a *App) notReadingWhatItWrites(ctx context.Context, readProfile, profile, file string) error {
	if !samePath(file, a.sharedCredentialsFile()) {
		return nil // the SDK does not read the written file
	}
	name, how := readProfile, "--read-profile "+readProfile
	if name == "" {
		if a.Getenv("AWS_ACCESS_KEY_ID") != "" && a.Getenv("AWS_SECRET_ACCESS_KEY") != "" {
			return nil
		}
		name, how = a.Getenv(envProfile), envProfile+"="+a.Getenv(envProfile)
		if name == "" {
			name, how = a.Getenv(envDefaultProfile), envDefaultProfile+"="+a.Getenv(envDefaultProfile)
		}
		if name == "" {
			name, how = "default", "the default chain"
		}
	}
	w, err := a.walkProfile(ctx, name)
	if err != nil {
		return nil // the SDK will say what is wrong with it
	}
	for _, s := range w.steps {
		if strings.TrimPrefix(s, "source_profile ") == profile {
			return coded(ExitUsage, fmt.Errorf("the secret would be read with the profile update writes (%s: %s), which could not renew itself once expired (fix: pass --read-profile NAME with credentials of its own, or run with AWS_ACCESS_KEY_ID and friends exported)", how, w))
		}
	}
	return nil
}

func samePath(a, b string) bool {
	if a == b {
		return true
	}
	ai, aerr := os.Stat(a)
	bi, berr := os.Stat(b)
	if aerr == nil && berr == nil {
		return os.SameFile(ai, bi)
	}
	aa, _ := filepath.Abs(a)
	bb, _ := filepath.Abs(b)
	return aa == bb
}

// checked maps a Retrieve result to the command's exit codes, and refuses
// credentials with less than minValidity left (shared by credential-process,
// env and update).
func (a *App) checked(r ref, p *credprovider.Provider, minValidity time.Duration) func(aws.Credentials, error) (aws.Credentials, error) {
	return func(creds aws.Credentials, err error) (aws.Credentials, error) {
		switch {
		case errors.Is(err, credprovider.ErrNotFound) && r.note != "":
			return aws.Credentials{}, coded(ExitNotFound, fmt.Errorf("%w; %s", err, r.note))
		case errors.Is(err, credprovider.ErrNotFound):
			return aws.Credentials{}, coded(ExitNotFound, err)
		case errors.Is(err, secretfmt.ErrInvalid):
			return aws.Credentials{}, coded(ExitInvalid, err)
		case errors.Is(err, credprovider.ErrExpired):
			return aws.Credentials{}, coded(ExitExpired, err)
		case err != nil:
			return aws.Credentials{}, err
		}
		if left := creds.Expires.Sub(a.Now()); left < minValidity {
			return aws.Credentials{}, coded(ExitExpired, fmt.Errorf("secret %s: key %s has %s, under --min-validity %s (fix: stsrotator status; stsrotator rotate --target %s)",
				r.SecretID, secretfmt.Mask(creds.AccessKeyID), humantime.Left(a.Now(), creds.Expires), humantime.Span(minValidity), orTarget(p.Target())))
		}
		return creds, nil
	}
}

// checkProfileName refuses a profile name that could not be one section
// header of an INI file.
func checkProfileName(p string) error {
	switch {
	case p == "":
		return errors.New("name the credentials-file profile to keep fresh with --profile PROFILE")
	case strings.TrimSpace(p) != p || strings.ContainsAny(p, "[]#;\r\n") || !printableASCII(p):
		return fmt.Errorf("--profile %q: a profile name must be printable, without brackets, # or ;, and without surrounding spaces", p)
	}
	return nil
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// updater writes one profile of one credentials file.
type updater struct {
	app           *App
	file, profile string
	target        string
}

// write puts creds in the profile unless it already holds them, under the
// lock, from the file as it is now (another update may have just written
// another profile).
func (u *updater) write(ctx context.Context, creds aws.Credentials) error {
	// Secret contents are untrusted: a value with a line break or an INI
	// delimiter would write other profiles.
	if creds.AccessKeyID == "" || creds.SecretAccessKey == "" || !credentialChars(creds.AccessKeyID) || !credentialChars(creds.SecretAccessKey) || !credentialChars(creds.SessionToken) {
		return coded(ExitInvalid, fmt.Errorf("the secret's credentials hold characters a credentials file cannot carry safely (key %s); nothing written (fix: let the rotator rewrite the secret)", secretfmt.Mask(creds.AccessKeyID)))
	}
	unlock, err := u.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	orig, err := readOwnFile(u.file)
	if err != nil {
		return err
	}
	if current := profileKey(orig, u.profile); current == creds.AccessKeyID {
		return nil
	}
	eol := "\n"
	if bytes.Contains(orig, []byte("\r\n")) {
		eol = "\r\n"
	}
	lines := []string{
		fmt.Sprintf("# written by stsrotator update --target %s; expires %s", u.target, creds.Expires.UTC().Format(time.RFC3339)),
		"aws_access_key_id = " + creds.AccessKeyID,
		"aws_secret_access_key = " + creds.SecretAccessKey,
	}
	if creds.SessionToken != "" {
		lines = append(lines, "aws_session_token = "+creds.SessionToken)
	}
	next, err := spliceProfile(orig, u.profile, lines, eol)
	if err != nil {
		return coded(ExitInvalid, fmt.Errorf("%s: %w", u.file, err))
	}
	if got := profileKey(next, u.profile); got != creds.AccessKeyID {
		return fmt.Errorf("%s: the profile %s would not read back (a bug); nothing written", u.file, u.profile)
	}
	if err := writeAtomic(u.file, next); err != nil {
		return err
	}
	fmt.Fprintf(u.app.Stderr, "stsrotator update: wrote profile %s in %s: key %s, expires %s (%s)\n", u.profile, u.file,
		secretfmt.Mask(creds.AccessKeyID), creds.Expires.UTC().Format(time.RFC3339), humantime.Left(u.app.Now(), creds.Expires))
	return nil
}

// credentialChars is what AWS access keys, secret keys, session tokens
// (base64) hold: nothing that could end a line or start a section.
func credentialChars(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '=' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// lock takes the advisory lock beside the file, saying so on stderr if
// another update holds it (no silent wait).
func (u *updater) lock(ctx context.Context) (func(), error) {
	dir := filepath.Dir(u.file)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	path := u.file + ".stsrotator-lock"
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		return nil, coded(ExitUsage, fmt.Errorf("%s is a symbolic link; refusing to lock through it (fix: remove it)", path))
	}
	l := flock.New(path, flock.SetPermissions(0o600))
	ok, err := l.TryLock()
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if !ok {
		fmt.Fprintf(u.app.Stderr, "stsrotator update: waiting for %s, held by another update\n", path)
		ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		if ok, err = l.TryLockContext(ctx, 20*time.Millisecond); !ok {
			return nil, fmt.Errorf("lock %s: %w", path, errors.Join(err, ctx.Err()))
		}
	}
	return func() { _ = l.Unlock() }, nil
}

// readOwnFile reads the credentials file (nil when it does not exist yet),
// refusing a symbolic link (the rename would replace the link, not what it
// points to, and a link planted by someone else would redirect the write)
// and a file owned by another user.
func readOwnFile(path string) ([]byte, error) {
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil
	case err != nil:
		return nil, err
	case fi.Mode()&fs.ModeSymlink != 0:
		return nil, coded(ExitUsage, fmt.Errorf("%s is a symbolic link; update replaces the file by renaming, which would replace the link (fix: pass --credentials-file with the file it points to)", path))
	case !fi.Mode().IsRegular():
		return nil, coded(ExitUsage, fmt.Errorf("%s is not a regular file", path))
	}
	// Outside Unix ownerOf knows no owner: the file's ACL decides there,
	// and the rename fails if this user may not replace the file.
	if uid, ok := ownerOf(fi); ok && uid != os.Getuid() {
		return nil, coded(ExitUsage, fmt.Errorf("%s belongs to user id %d, not to this user; refusing to replace it (fix: run update as its owner, or pass --credentials-file with a file of your own)", path, uid))
	}
	return os.ReadFile(path)
}

// writeAtomic replaces path with data: a temporary file in the same
// directory, synced, mode 0600, renamed over path, so a reader sees the
// old file or the new one, never a part of either, and a symlink at path
// is replaced, never written through. update and serve's token file
// both write with it.
func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".stsrotator-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	done := false
	defer func() {
		if !done {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	done = true
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// The shared credentials file is edited by splicing bytes, not through an
// INI library: gopkg.in/ini.v1 (and every Go INI library we looked at)
// rewrites the whole file when it saves (spacing around =, comments,
// blank lines, quoting), and update must leave every byte outside its
// profile as it was. So the section is located by the grammar botocore's
// parser (Python's configparser, which the AWS CLI reads the file with)
// uses: a header is a line that starts with "[" and names the section up
// to its last "]"; a line that starts with white space continues the
// previous value; "#" and ";" start comment lines. ini.v1 then reads the
// result back, as a check, before anything is written.

// credentialKeys are the keys update owns in its profile: botocore reads
// aws_security_token as the session token too, so a stale one is removed.
var credentialKeys = map[string]bool{"aws_access_key_id": true, "aws_secret_access_key": true, "aws_session_token": true, "aws_security_token": true}

const updateMarker = "# written by stsrotator update"

// spliceProfile returns orig with the profile's credential lines replaced
// by lines (each ended with eol), or the profile appended when absent.
// Other lines of the profile (region, comments) are kept after them; the
// blank and comment lines that end the section (usually about the next
// one) stay where they are.
func spliceProfile(orig []byte, profile string, lines []string, eol string) ([]byte, error) {
	all := splitLines(orig)
	var headers []int
	for i, l := range all {
		if name, ok := sectionName(l); ok && name == profile {
			headers = append(headers, i)
		}
	}
	block := strings.Join(lines, eol) + eol
	if len(headers) > 1 {
		return nil, fmt.Errorf("profile [%s] appears %d times, which the AWS CLI refuses to read (fix: keep one)", profile, len(headers))
	}
	if len(headers) == 0 {
		var b bytes.Buffer
		b.Write(orig)
		if len(orig) > 0 && !bytes.HasSuffix(orig, []byte("\n")) {
			b.WriteString(eol)
		}
		if len(orig) > 0 {
			b.WriteString(eol)
		}
		b.WriteString("[" + profile + "]" + eol + block)
		return b.Bytes(), nil
	}
	h := headers[0]
	end := len(all)
	for i := h + 1; i < len(all); i++ {
		if _, ok := sectionName(all[i]); ok {
			end = i
			break
		}
	}
	// The trailing blank and comment lines stay after the section.
	tail := end
	for tail > h+1 && (blankLine(all[tail-1]) || commentLine(all[tail-1])) {
		tail--
	}
	var kept []string
	skipping := false
	for _, l := range all[h+1 : tail] {
		if continuation(l) && skipping {
			continue
		}
		skipping = false
		if commentLine(l) && strings.HasPrefix(strings.TrimSpace(l), updateMarker) {
			continue
		}
		if k, _, ok := strings.Cut(l, "="); ok && !continuation(l) && credentialKeys[strings.ToLower(strings.TrimSpace(k))] {
			skipping = true
			continue
		}
		kept = append(kept, l)
	}
	var b bytes.Buffer
	for _, l := range all[:h+1] {
		b.WriteString(l)
	}
	if !strings.HasSuffix(all[h], "\n") {
		b.WriteString(eol)
	}
	var rest bytes.Buffer
	for _, l := range kept {
		rest.WriteString(l)
	}
	if len(kept) > 0 && !strings.HasSuffix(kept[len(kept)-1], "\n") {
		rest.WriteString(eol)
	}
	if len(kept) > 0 && continuation(kept[0]) {
		// An indented line right under the header would continue our
		// session token: the block goes after the section's lines.
		b.Write(rest.Bytes())
		b.WriteString(block)
	} else {
		b.WriteString(block)
		b.Write(rest.Bytes())
	}
	for _, l := range all[tail:] {
		b.WriteString(l)
	}
	return b.Bytes(), nil
}

// splitLines splits b after each "\n", keeping the terminators.
func splitLines(b []byte) []string {
	var out []string
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			out = append(out, string(b))
			break
		}
		out = append(out, string(b[:i+1]))
		b = b[i+1:]
	}
	return out
}

// sectionName is the name in a header line "[name]" (configparser: the
// line starts with "[", the name runs to its last "]").
func sectionName(l string) (string, bool) {
	s := strings.TrimRight(l, "\r\n")
	if !strings.HasPrefix(s, "[") {
		return "", false
	}
	i := strings.LastIndexByte(s, ']')
	if i < 2 {
		return "", false
	}
	return s[1:i], true
}

func blankLine(l string) bool { return strings.TrimSpace(l) == "" }

func commentLine(l string) bool {
	s := strings.TrimSpace(l)
	return strings.HasPrefix(s, "#") || strings.HasPrefix(s, ";")
}

// continuation is a line that continues the previous value: it starts
// with white space and is not blank.
func continuation(l string) bool {
	return (strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t")) && !blankLine(l)
}

// profileKey is the aws_access_key_id the profile holds in the file, read
// with gopkg.in/ini.v1; "" when none.
func profileKey(b []byte, profile string) string {
	if len(b) == 0 {
		return ""
	}
	f, err := ini.LoadSources(ini.LoadOptions{Loose: true, AllowNestedValues: true, SkipUnrecognizableLines: true, IgnoreInlineComment: true}, b)
	if err != nil {
		return ""
	}
	sec, err := f.GetSection(profile)
	if err != nil {
		return ""
	}
	return sec.Key("aws_access_key_id").String()
}
