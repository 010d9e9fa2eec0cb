package reaction

import (
	"fmt"
	"regexp"

	"github.com/stsrotator/stsrotator/shared/config"
	"github.com/stsrotator/stsrotator/shared/metrics"
)

// MaxKeySearchTargets caps the search a report naming only a masked key
// causes: it reads the current and previous version of each target, so
// 2 × MaxKeySearchTargets GetSecretValue calls at most. With more targets
// the report is not searched (metrics.KeySearchSkipped) and alerted as
// unmatched, telling the reporter to name its target; a report that names
// its target costs two reads whatever the config's size.
const MaxKeySearchTargets = 50

var (
	reReaderAccount = regexp.MustCompile(`^\d{12}$`)
	reReaderARN     = regexp.MustCompile(`^arn:[a-z-]+:iam::(\d{12}):`)
)

// ReaderAccount is the account of one of a target's readers (config's
// readers: an account ID, or a role, user or root ARN), or "".
func ReaderAccount(reader string) string {
	if reReaderAccount.MatchString(reader) {
		return reader
	}
	if m := reReaderARN.FindStringSubmatch(reader); m != nil {
		return m[1]
	}
	return ""
}

// Reads reports whether account holds one of t's readers: the account
// itself, or the account of a reader ARN. EventBridge records the
// account that put an event (the envelope's account field) and the bus
// policy admits only reader accounts' principals, so this is what binds
// a report to its sender.
func Reads(t config.Target, account string) bool {
	for _, r := range t.Readers {
		if ReaderAccount(r) == account {
			return true
		}
	}
	return false
}

// refusal says why a report from s.Account may not act, with the metric
// reason; "" when it may. A report from the stack's own account (or from
// any account when the reactor does not know its own, as in local runs)
// may name any target; one from another account must name a target or
// secret that account reads.
func (r *Reactor) refusal(s Signal, t config.Target, matched bool) (why, reason string) {
	if s.Source == FromCloudTrail || r.Account == "" || s.Account == r.Account {
		return "", ""
	}
	switch {
	case s.Target == "" && s.SecretID == "":
		return fmt.Sprintf("a report from another account (%s) must name its target or secret; only the stack's own account may report a key alone", s.Account), metrics.ReasonKeyOnly
	case !matched:
		return fmt.Sprintf("account %s reads no target by the name the report gives", s.Account), metrics.ReasonNotAReader
	case !Reads(t, s.Account):
		return fmt.Sprintf("account %s is no reader of target %s, so it may not report on it", s.Account, t.Name), metrics.ReasonNotAReader
	}
	return "", ""
}
