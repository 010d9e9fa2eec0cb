package faults

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"sync"
)

// Ledger records, from the wire, the life of every credential: issued by
// AssumeRole, used to call GetCallerIdentity, written to a secret. It
// records what the service acted on, so a write whose response was lost
// still counts as a write.
type Ledger struct {
	mu  sync.Mutex
	seq uint64
	// issued maps an access key to the role AssumeRole issued it for.
	issued map[string]string
	// verified is the sequence number at which a successful
	// GetCallerIdentity signed with the key was answered to the caller.
	verified map[string]uint64
	// stored is the sequence number of the first accepted write of a key
	// into a secret (secret + "\x00" + key).
	stored map[string]uint64
	writes map[string]int
	// ignored maps a secret whose CreateSecret the service answered with
	// a version ID other than the ClientRequestToken sent to both IDs.
	ignored map[string][2]string
}

func newLedger() *Ledger {
	return &Ledger{issued: map[string]string{}, verified: map[string]uint64{}, stored: map[string]uint64{}, writes: map[string]int{}, ignored: map[string][2]string{}}
}

// record notes one call the service acted on; seen says whether its
// response reached the caller.
func (l *Ledger) record(c Call, status int, body []byte, seen bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq++
	if status != http.StatusOK {
		return
	}
	switch c.Op {
	case "AssumeRole":
		var r struct {
			Key string `xml:"AssumeRoleResult>Credentials>AccessKeyId"`
		}
		if xml.Unmarshal(body, &r) == nil && r.Key != "" {
			form, _ := url.ParseQuery(string(c.Body))
			l.issued[r.Key] = form.Get("RoleArn")
		}
	case "GetCallerIdentity":
		// Only an answer the caller read counts: a verification whose
		// response was lost proved nothing to the rotator.
		if key := accessKey(c.Header); seen && key != "" {
			if _, ok := l.verified[key]; !ok {
				l.verified[key] = l.seq
			}
		}
	case "PutSecretValue", "CreateSecret":
		var in struct{ SecretId, Name, SecretString, ClientRequestToken string }
		if json.Unmarshal(c.Body, &in) != nil || in.SecretString == "" {
			return
		}
		secret := in.SecretId + in.Name
		var out struct{ VersionId string }
		if c.Op == "CreateSecret" && json.Unmarshal(body, &out) == nil && in.ClientRequestToken != "" && out.VersionId != in.ClientRequestToken {
			l.ignored[secret] = [2]string{out.VersionId, in.ClientRequestToken}
		}
		l.writes[secret]++
		var v struct{ AccessKeyId string }
		_ = json.Unmarshal([]byte(in.SecretString), &v)
		k := secret + "\x00" + v.AccessKeyId
		if _, ok := l.stored[k]; !ok {
			l.stored[k] = l.seq
		}
	}
}

func (l *Ledger) roleOf(key string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.issued[key]
}

// Issued is how many distinct access keys AssumeRole handed out.
func (l *Ledger) Issued() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.issued)
}

// Writes is how many writes of a value the service accepted for secret.
func (l *Ledger) Writes(secret string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.writes[secret]
}

// IgnoredToken returns the version ID the service gave secret's first
// version and the ClientRequestToken CreateSecret had sent for it, when
// they differ. kumo's CreateSecret ignores the token, so a CreateSecret
// retried after its answer was lost is not recognised as the same request:
// the rotator's fallback PutSecretValue then stores the same credentials a
// second time, under the token.
func (l *Ledger) IgnoredToken(secret string) (versionID, token string, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ids, ok := l.ignored[secret]
	return ids[0], ids[1], ok
}

// Provenance says why a version of secret holding accessKeyID cannot be
// trusted, or nil if AssumeRole issued the key and a GetCallerIdentity
// signed with it succeeded before the key was first written to secret.
func (l *Ledger) Provenance(secret, accessKeyID string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	stored, ok := l.stored[secret+"\x00"+accessKeyID]
	switch {
	case !ok:
		return fmt.Errorf("key %s was never written to %s through the fault layer", mask(accessKeyID), secret)
	case l.issued[accessKeyID] == "":
		return fmt.Errorf("key %s in %s was not issued by AssumeRole", mask(accessKeyID), secret)
	}
	v, ok := l.verified[accessKeyID]
	if !ok || v > stored {
		return fmt.Errorf("key %s was written to %s before any GetCallerIdentity with it succeeded", mask(accessKeyID), secret)
	}
	return nil
}

func mask(key string) string {
	if len(key) <= 4 {
		return "…"
	}
	return "…" + key[len(key)-4:]
}
