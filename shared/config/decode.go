package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/stsrotator/stsrotator/shared/humantime"
	"github.com/stsrotator/stsrotator/shared/suggest"
)

// The decoder walks yaml.Node trees by hand rather than unmarshalling into
// structs: only the node tree knows line numbers and which keys were
// actually written, and both are needed for messages and for defaults.

type decoder struct {
	file string
	errs Errors
	seen map[string]bool
	// jitter is rotator.jitter, read before the targets.
	jitter time.Duration
	// region is the stack's region when the caller knows it.
	region StackRegion
}

func (d *decoder) add(line int, field, problem, fix string) {
	key := fmt.Sprintf("%d\x00%s\x00%s", line, problem, fix)
	if line > 0 {
		// An invalid default inherited by many targets is one mistake.
		if d.seen == nil {
			d.seen = map[string]bool{}
		}
		if d.seen[key] {
			return
		}
		d.seen[key] = true
	}
	d.errs = append(d.errs, &FieldError{File: d.file, Line: line, Field: field, Problem: problem, Fix: fix})
}

type val[T any] struct {
	v    T
	line int
	set  bool
	// path is the field path where the value was written (a target's own
	// field or the defaults'), so errors point at what to edit.
	path string
}

type rawTarget struct {
	line           int
	name           val[string]
	roleArn        val[string]
	externalID     val[string]
	duration       val[time.Duration]
	refreshBefore  val[time.Duration]
	refreshWindow  val[time.Duration]
	sessionName    val[string]
	sessionPolicy  val[string]
	policyArns     val[[]string]
	sessionTags    val[[]Tag]
	sourceIdentity val[string]
	secretName     val[string]
	readers        val[[]string]
	tags           val[[]Tag]
	stsRegion      val[string]
	logGroups      val[[]string]
	sourceCreds    val[string]
	replicaRegions val[[]string]
}

var (
	topKeys     = []string{"version", "defaults", "rotator", "alerts", "targets", "replicaKmsKeys"}
	targetKeys  = []string{"name", "roleArn", "externalId", "durationSeconds", "refreshBefore", "consumerRefreshWindow", "sessionName", "sessionPolicy", "policyArns", "sessionTags", "sourceIdentity", "secretName", "readers", "tags", "stsRegion", "logGroups", "sourceCredentials", "replicaRegions"}
	defaultKeys = []string{"externalId", "durationSeconds", "refreshBefore", "sessionPolicy", "policyArns", "sessionTags", "sourceIdentity", "readers", "tags", "stsRegion", "sourceCredentials", "replicaRegions"}
)

func (d *decoder) root(n *yaml.Node) *Config {
	doc := n
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		doc = doc.Content[0]
	}
	cfg := &Config{Version: 1, Rotator: Rotator{Concurrency: DefaultConcurrency, Jitter: DefaultJitter, SourceKeyMaxAge: DefaultSourceKeyMaxAge}}
	if doc.Kind != yaml.MappingNode {
		d.add(doc.Line, "", "the top level must be a mapping", "start the file with `targets:` followed by a list of targets")
		return cfg
	}
	var defaults rawTarget
	var targetsNode *yaml.Node
	d.mapping(doc, "", topKeys, func(key string, k, v *yaml.Node) {
		switch key {
		case "version":
			if v.Value != "1" || v.Tag != "!!int" {
				d.add(v.Line, "version", fmt.Sprintf("unsupported version %q", v.Value), "set version: 1 or leave it out")
			}
		case "defaults":
			defaults = d.target(v, "defaults", defaultKeys)
		case "rotator":
			d.rotator(v, &cfg.Rotator)
		case "alerts":
			d.mapping(v, "alerts", []string{"emails"}, func(_ string, _, ev *yaml.Node) {
				cfg.Alerts.Emails = d.strings(ev, "alerts.emails").v
				// Checked on the nodes, not the decoded list: a non-text entry
				// drops out of the list and would shift every index after it.
				for i, n := range ev.Content {
					if ev.Kind == yaml.SequenceNode && n.Kind == yaml.ScalarNode && n.Tag != "!!null" && !reEmail.MatchString(n.Value) {
						d.add(n.Line, fmt.Sprintf("alerts.emails[%d]", i), fmt.Sprintf("%q is not an email address", n.Value), "write it as name@example.com")
					}
				}
			})
		case "targets":
			targetsNode = v
		case "replicaKmsKeys":
			cfg.ReplicaKMSKeys = d.replicaKeys(v)
		}
	})
	if targetsNode == nil || targetsNode.Kind == yaml.ScalarNode && targetsNode.Tag == "!!null" {
		d.add(doc.Line, "targets", "no targets declared", "add a `targets:` list with at least one entry that has name and roleArn")
		return cfg
	}
	if targetsNode.Kind != yaml.SequenceNode {
		d.add(targetsNode.Line, "targets", "must be a list", "write each target as a list item starting with `- name: …`")
		return cfg
	}
	if len(targetsNode.Content) == 0 {
		d.add(targetsNode.Line, "targets", "no targets declared", "add at least one entry with name and roleArn")
	}
	// Each maps a value to the path of the first target that has it.
	names := map[string]string{}
	secrets := map[string]string{}
	groups := map[string]string{}
	d.jitter = cfg.Rotator.Jitter
	var floors []floorCheck
	for i, tn := range targetsNode.Content {
		path := targetPath(i, nameOf(tn))
		raw := d.target(tn, path, targetKeys)
		// Checked before resolve, so a duplicate is reported even when
		// either target has other problems: all errors at once.
		dup := false
		if n := raw.name.v; raw.name.set && n != "" {
			var first string
			if first, dup = names[n]; dup {
				d.add(raw.name.line, path+".name", fmt.Sprintf("%q is already the name of %s", n, first), "give every target a unique name")
			} else {
				names[n] = path
			}
		}
		t, ok := d.resolve(path, raw, defaults)
		if !dup {
			// Floors are checked for a target with other problems too
			// (what resolve could read of it), so validate lists every
			// problem of a target in one round trip.
			floors = append(floors, floorCheck{path: path, rb: pick(raw.refreshBefore, defaults.refreshBefore), line: raw.line, t: t})
		}
		if !ok || dup {
			continue
		}
		if first, dup := secrets[t.SecretName]; dup {
			d.add(raw.line, path+".secretName", fmt.Sprintf("secret %q is already used by %s", t.SecretName, first), "give every target its own secretName")
		} else {
			secrets[t.SecretName] = path
		}
		for _, g := range t.LogGroups {
			if first, dup := groups[g]; dup {
				// A report must name one target; a shared group could not.
				d.add(raw.logGroups.line, path+".logGroups", fmt.Sprintf("log group %q is already watched for %s", g, first), "watch each log group for one target only")
				continue
			}
			groups[g] = path
		}
		cfg.Targets = append(cfg.Targets, t)
	}
	d.checkFloors(cfg, floors)
	return cfg
}

// targetPath is the field path of the i-th target, with its name when it
// has one: targets[2](billing-reader). Every error about a target's field
// starts with it, so a user finds the target by name, not by counting.
func targetPath(i int, name string) string {
	if name == "" {
		return fmt.Sprintf("targets[%d]", i)
	}
	return fmt.Sprintf("targets[%d](%s)", i, name)
}

// nameOf is the name a target node declares, "" when it declares none as
// text; read before the target's fields, so errors about fields written
// above name: carry it too.
func nameOf(n *yaml.Node) string {
	if n.Kind != yaml.MappingNode {
		return ""
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k, v := n.Content[i], n.Content[i+1]; k.Value == "name" && v.Kind == yaml.ScalarNode && v.Tag != "!!null" {
			return v.Value
		}
	}
	return ""
}

// mapping visits each key of a mapping node, reporting unknown and
// repeated keys with the closest valid key as the fix.
func (d *decoder) mapping(n *yaml.Node, path string, allowed []string, visit func(key string, k, v *yaml.Node)) {
	if n.Kind != yaml.MappingNode {
		d.add(n.Line, path, "must be a mapping of key: value", "indent its fields under it, one per line")
		return
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		field := join(path, k.Value)
		if first, dup := seen[k.Value]; dup {
			d.add(k.Line, field, "is set twice", keepOne(first))
			continue
		}
		seen[k.Value] = k.Line
		if !contains(allowed, k.Value) {
			fix := "valid keys here: " + strings.Join(allowed, ", ")
			if s := suggest.Closest(k.Value, allowed); s != "" {
				fix = "did you mean " + s + "?"
			}
			d.add(k.Line, field, "unknown key", fix)
			continue
		}
		visit(k.Value, k, v)
	}
}

// keepOne is the fix for a key written twice in one mapping, naming the
// line of the first: a long file's two copies are far apart, and YAML
// parsers disagree on which one wins (go.yaml.in/yaml/v3 keeps the last).
func keepOne(firstLine int) string {
	return fmt.Sprintf("keep one of them (the first is on line %d)", firstLine)
}

func (d *decoder) rotator(n *yaml.Node, r *Rotator) {
	d.mapping(n, "rotator", []string{"concurrency", "jitter", "sourceKeyMaxAge"}, func(key string, _, v *yaml.Node) {
		switch key {
		case "concurrency":
			c, err := strconv.Atoi(v.Value)
			if err != nil || v.Kind != yaml.ScalarNode || c < 1 || c > MaxConcurrency {
				d.add(v.Line, "rotator.concurrency", fmt.Sprintf("%q is not a whole number from 1 to %d", v.Value, MaxConcurrency), fmt.Sprintf("use e.g. %d", DefaultConcurrency))
				return
			}
			r.Concurrency = c
		case "jitter":
			j := d.duration(v, "rotator.jitter", false)
			if j.set && (j.v < 0 || j.v > 10*time.Minute) {
				d.add(v.Line, "rotator.jitter", fmt.Sprintf("%s is outside 0s–10m", humantime.Span(j.v)), "use e.g. 2m; 0s turns jitter off")
				return
			}
			if j.set {
				r.Jitter = j.v
			}
		case "sourceKeyMaxAge":
			a := d.days(v, "rotator.sourceKeyMaxAge")
			if a.set && (a.v < MinSourceKeyMaxAge || a.v > MaxSourceKeyMaxAge) {
				d.add(v.Line, "rotator.sourceKeyMaxAge", fmt.Sprintf("%s is outside %s–%s (%d–%d days)", humantime.Span(a.v), humantime.Span(MinSourceKeyMaxAge), humantime.Span(MaxSourceKeyMaxAge), int(MinSourceKeyMaxAge/(24*time.Hour)), int(MaxSourceKeyMaxAge/(24*time.Hour))),
					fmt.Sprintf("use e.g. 30d; AWS advises rotating access keys at least every 90 days, and the previous key keeps IAM's second key slot for %s after a rotation", humantime.Span(SourceKeyGrace)))
				return
			}
			if a.set {
				r.SourceKeyMaxAge = a.v
			}
		}
	})
}

// days reads an age written as whole days ("30d") or a Go duration.
func (d *decoder) days(v *yaml.Node, path string) val[time.Duration] {
	if v.Kind == yaml.ScalarNode && strings.HasSuffix(v.Value, "d") {
		if n, err := strconv.Atoi(strings.TrimSuffix(v.Value, "d")); err == nil && n >= 0 && n < 1<<16 {
			return val[time.Duration]{v: time.Duration(n) * 24 * time.Hour, line: v.Line, set: true, path: path}
		}
	}
	if v.Kind == yaml.ScalarNode && v.Tag != "!!int" {
		if dur, err := time.ParseDuration(v.Value); err == nil {
			return val[time.Duration]{v: dur, line: v.Line, set: true, path: path}
		}
	}
	d.add(v.Line, path, fmt.Sprintf("%q is not an age", v.Value), "write whole days such as 30d, or a duration such as 720h")
	return val[time.Duration]{line: v.Line}
}

// replicaKeys reads replicaKmsKeys: region → the KMS key that encrypts
// replicas there, in any form ReplicaRegionType.KmsKeyId takes
// (checkReplicaKey).
func (d *decoder) replicaKeys(v *yaml.Node) map[string]string {
	if v.Kind != yaml.MappingNode {
		d.add(v.Line, "replicaKmsKeys", "must be a mapping of region: KMS key", "write one `eu-west-1: alias/<name>` (or a key ID, key ARN or alias ARN in that region) per line under it")
		return nil
	}
	out := map[string]string{}
	lines := map[string]int{}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, e := v.Content[i], v.Content[i+1]
		path := "replicaKmsKeys." + k.Value
		if first, dup := lines[k.Value]; dup {
			d.add(k.Line, path, "is set twice", keepOne(first))
			continue
		}
		lines[k.Value] = k.Line
		s := d.str(e, path)
		if !s.set {
			continue
		}
		p, ok := d.knownRegion(k.Line, path, k.Value, "")
		if !ok {
			continue
		}
		if problem := checkReplicaKey(s.v, k.Value, p); problem != "" {
			d.add(e.Line, path, problem, replicaKeyFix(k.Value, p))
			continue
		}
		out[k.Value] = s.v
	}
	return out
}

func (d *decoder) target(n *yaml.Node, path string, allowed []string) rawTarget {
	raw := rawTarget{line: n.Line}
	d.mapping(n, path, allowed, func(key string, _, v *yaml.Node) {
		p := path + "." + key
		switch key {
		case "name":
			raw.name = d.str(v, p)
		case "roleArn":
			raw.roleArn = d.str(v, p)
		case "externalId":
			raw.externalID = d.str(v, p)
		case "durationSeconds":
			raw.duration = d.duration(v, p, true)
		case "refreshBefore":
			raw.refreshBefore = d.duration(v, p, false)
		case "consumerRefreshWindow":
			raw.refreshWindow = d.duration(v, p, false)
		case "sessionName":
			raw.sessionName = d.str(v, p)
		case "sessionPolicy":
			raw.sessionPolicy = d.policy(v, p)
		case "policyArns":
			raw.policyArns = d.strings(v, p)
		case "sessionTags":
			raw.sessionTags = d.tags(v, p, SameSessionTagKey)
		case "sourceIdentity":
			raw.sourceIdentity = d.str(v, p)
		case "secretName":
			raw.secretName = d.str(v, p)
		case "readers":
			raw.readers = d.strings(v, p)
		case "tags":
			raw.tags = d.tags(v, p, SameResourceTagKey)
		case "stsRegion":
			raw.stsRegion = d.str(v, p)
		case "logGroups":
			raw.logGroups = d.strings(v, p)
		case "sourceCredentials":
			raw.sourceCreds = d.str(v, p)
		case "replicaRegions":
			raw.replicaRegions = d.strings(v, p)
		}
	})
	return raw
}

func (d *decoder) str(v *yaml.Node, path string) val[string] {
	if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
		d.add(v.Line, path, "must be a single text value", "write it on the same line as the key, quoted if it has special characters")
		return val[string]{line: v.Line}
	}
	return val[string]{v: v.Value, line: v.Line, set: true, path: path}
}

func (d *decoder) strings(v *yaml.Node, path string) val[[]string] {
	if v.Kind != yaml.SequenceNode {
		d.add(v.Line, path, "must be a list", "write one `- value` per line under it, or [] for none")
		return val[[]string]{line: v.Line}
	}
	out := make([]string, 0, len(v.Content))
	for i, e := range v.Content {
		s := d.str(e, fmt.Sprintf("%s[%d]", path, i))
		if s.set {
			out = append(out, s.v)
		}
	}
	return val[[]string]{v: out, line: v.Line, set: true, path: path}
}

// tags reads a key: value mapping; same is AWS's rule for when two keys
// are one (SameSessionTagKey, SameResourceTagKey).
func (d *decoder) tags(v *yaml.Node, path string, same func(a, b string) bool) val[[]Tag] {
	if v.Kind != yaml.MappingNode {
		d.add(v.Line, path, "must be a mapping of key: value", "write one `Key: value` per line under it")
		return val[[]Tag]{line: v.Line}
	}
	var out []Tag
	var seen []*yaml.Node
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, e := v.Content[i], v.Content[i+1]
		if first := firstSame(seen, k.Value, same); first != nil {
			if first.Value == k.Value {
				d.add(k.Line, path+"."+k.Value, "is set twice", keepOne(first.Line))
			} else {
				d.add(k.Line, path+"."+k.Value, fmt.Sprintf("is the same session tag key as %s (line %d): STS compares session tag keys without regard to case, so you cannot have separate %s and %s tag keys", first.Value, first.Line, first.Value, k.Value),
					"keep one of them, in the case you want STS to preserve")
			}
			continue
		}
		seen = append(seen, k)
		s := d.str(e, path+"."+k.Value)
		if s.set {
			out = append(out, Tag{Key: k.Value, Value: s.v})
		}
	}
	return val[[]Tag]{v: out, line: v.Line, set: true, path: path}
}

// duration accepts whole seconds (durationSeconds must be) or, where
// wholeSeconds is false, also Go durations such as 15m.
func (d *decoder) duration(v *yaml.Node, path string, wholeSeconds bool) val[time.Duration] {
	if v.Kind == yaml.ScalarNode && v.Tag == "!!int" {
		n, err := strconv.ParseInt(v.Value, 10, 64)
		if err == nil && n >= 0 && n < 1<<31 {
			return val[time.Duration]{v: time.Duration(n) * time.Second, line: v.Line, set: true, path: path}
		}
	}
	if !wholeSeconds && v.Kind == yaml.ScalarNode {
		if dur, err := time.ParseDuration(v.Value); err == nil {
			return val[time.Duration]{v: dur, line: v.Line, set: true, path: path}
		}
	}
	fix := "write a whole number of seconds, e.g. 3600"
	if !wholeSeconds {
		fix = "write a duration such as 15m or 900 (seconds)"
	}
	d.add(v.Line, path, fmt.Sprintf("%q is not a duration", v.Value), fix)
	return val[time.Duration]{line: v.Line}
}

// policy accepts the session policy as a JSON string or as a YAML mapping,
// and always yields compact JSON: STS counts the characters it is sent.
func (d *decoder) policy(v *yaml.Node, path string) val[string] {
	var doc any
	switch v.Kind {
	case yaml.ScalarNode:
		if err := json.Unmarshal([]byte(v.Value), &doc); err != nil {
			d.add(v.Line, path, "is not valid JSON: "+err.Error(), "write the policy as a JSON document, or as a YAML mapping")
			return val[string]{line: v.Line}
		}
	case yaml.MappingNode:
		if err := v.Decode(&doc); err != nil {
			d.add(v.Line, path, "cannot be read: "+err.Error(), "write the policy as a JSON document")
			return val[string]{line: v.Line}
		}
	default:
		d.add(v.Line, path, "must be a JSON policy document", `write e.g. {"Version":"2012-10-17","Statement":[…]}`)
		return val[string]{line: v.Line}
	}
	obj, ok := doc.(map[string]any)
	if !ok {
		d.add(v.Line, path, "must be a JSON object", `write e.g. {"Version":"2012-10-17","Statement":[…]}`)
		return val[string]{line: v.Line}
	}
	if _, ok := obj["Statement"]; !ok {
		d.add(v.Line, path, "has no Statement", "add a Statement list; a session policy without one grants nothing")
		return val[string]{line: v.Line}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(obj); err != nil {
		d.add(v.Line, path, "cannot be encoded: "+err.Error(), "simplify the policy")
		return val[string]{line: v.Line}
	}
	return val[string]{v: strings.TrimSpace(buf.String()), line: v.Line, set: true, path: path}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

func firstSame(seen []*yaml.Node, key string, same func(a, b string) bool) *yaml.Node {
	for _, n := range seen {
		if same(n.Value, key) {
			return n
		}
	}
	return nil
}

// mergeTags overlays target tags on default tags, the target winning per
// key as same (AWS's rule for the kind of tag) compares keys, and with its
// spelling of the key: a default Team and a target's team are one session
// tag, team. The result is sorted by key so that everything derived from
// it is reproducible.
func mergeTags(def, own []Tag, same func(a, b string) bool) []Tag {
	var out []Tag
	for _, list := range [][]Tag{def, own} {
	next:
		for _, t := range list {
			for i := range out {
				if same(out[i].Key, t.Key) {
					out[i] = t
					continue next
				}
			}
			out = append(out, t)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// TargetNames lists the names the targets in data declare, in file
// order, reading only as much as that needs: shell completion offers
// them while the rest of the file may still have mistakes. Nil when data
// is not YAML or has no targets list.
func TargetNames(data []byte) []string {
	var root yaml.Node
	if yaml.Unmarshal(data, &root) != nil || root.Kind != yaml.DocumentNode || len(root.Content) == 0 || root.Content[0].Kind != yaml.MappingNode {
		return nil
	}
	doc := root.Content[0]
	var names []string
	for i := 0; i+1 < len(doc.Content); i += 2 {
		if doc.Content[i].Value != "targets" || doc.Content[i+1].Kind != yaml.SequenceNode {
			continue
		}
		for _, tn := range doc.Content[i+1].Content {
			if n := nameOf(tn); n != "" {
				names = append(names, n)
			}
		}
	}
	return names
}
