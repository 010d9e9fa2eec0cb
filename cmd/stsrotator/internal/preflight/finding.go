package preflight

import "fmt"

// Level is how much a finding matters; the order is the sort order
// (Block first).
type Level int

const (
	// OK: checked, nothing to do.
	OK Level = iota
	// Skip: cannot be checked from this account (a cross-account role);
	// the fix says what to check where.
	Skip
	// Warn: the deploy works, but something will not work as well as it
	// should (e.g. throttled sweeps).
	Warn
	// Error: the check itself failed (access denied, throttled), so
	// preflight cannot say whether the deploy would work.
	Error
	// Block: the deploy would fail, or a target could never be rotated.
	Block
)

func (l Level) String() string {
	return [...]string{"OK", "SKIP", "WARN", "ERROR", "BLOCK"}[l]
}

// What each finding is about.
const (
	CheckAccount     = "account"
	CheckBootstrap   = "bootstrap"
	CheckConcurrency = "concurrency"
	CheckLogGroup    = "log-group"
	CheckReader      = "reader"
	CheckTrust       = "trust"
	CheckSecretName  = "secret-name"
	CheckSession     = "session"
	CheckQuota       = "quota"
)

// Finding is one line of preflight's report.
type Finding struct {
	Level   Level  `json:"level"`
	Check   string `json:"check"`
	Subject string `json:"subject"`
	Message string `json:"message"`
	Fix     string `json:"fix,omitempty"`
}

// MarshalText writes the level as its name.
func (l Level) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

// String is the finding's report line: level, check, subject, what was
// found and, unless it is OK, the fix.
func (f Finding) String() string {
	s := fmt.Sprintf("%-5s %-11s %s: %s", f.Level, f.Check, f.Subject, f.Message)
	if f.Fix != "" && f.Level != OK {
		s += " (fix: " + f.Fix + ")"
	}
	return s
}

// Worst is the highest level among findings (OK for none).
func Worst(fs []Finding) Level {
	w := OK
	for _, f := range fs {
		w = max(w, f.Level)
	}
	return w
}

// UnmarshalText reads what MarshalText wrote, for scripts and tests that
// read preflight --json back.
func (l *Level) UnmarshalText(b []byte) error {
	for c := OK; c <= Block; c++ {
		if c.String() == string(b) {
			*l = c
			return nil
		}
	}
	return fmt.Errorf("unknown level %q", b)
}
