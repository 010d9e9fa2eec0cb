package quotacheck

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/stsrotator/stsrotator/shared/quotas"
)

// Template is one synthesized stack template.
type Template struct {
	// Name is the template's file name in the cloud assembly.
	Name string
	Body map[string]any
	// Bytes is the file's size, what CloudFormation's template-size quota
	// counts.
	Bytes int
}

// Manifest is the part of a cloud assembly's manifest.json this package
// and the app's tests read: each artifact's type and where its template
// (stacks) or asset manifest (cdk:asset-manifest) is.
type Manifest struct {
	Artifacts map[string]struct {
		Type       string `json:"type"`
		Properties struct {
			TemplateFile string `json:"templateFile"`
			File         string `json:"file"`
		} `json:"properties"`
	} `json:"artifacts"`
}

// AssetManifest is the part of a cdk:asset-manifest read here: each file
// asset's path in the assembly, keyed by its hash.
type AssetManifest struct {
	Files map[string]struct {
		Source struct {
			Path string `json:"path"`
		} `json:"source"`
	} `json:"files"`
}

// Load reads every template of the cloud assembly at outdir: each stack
// artifact's and every nested stack's (file assets ending in .json whose
// content is a template).
func Load(outdir string) ([]Template, error) {
	var manifest Manifest
	if err := ReadJSON(filepath.Join(outdir, "manifest.json"), &manifest); err != nil {
		return nil, err
	}
	files := map[string]bool{}
	for _, a := range manifest.Artifacts {
		switch a.Type {
		case "aws:cloudformation:stack":
			files[a.Properties.TemplateFile] = true
		case "cdk:asset-manifest":
			var assets AssetManifest
			if err := ReadJSON(filepath.Join(outdir, a.Properties.File), &assets); err != nil {
				return nil, err
			}
			for _, f := range assets.Files {
				if strings.HasSuffix(f.Source.Path, ".json") {
					files[f.Source.Path] = true
				}
			}
		}
	}
	var out []Template
	for f := range files {
		b, err := os.ReadFile(filepath.Join(outdir, f))
		if err != nil {
			return nil, fmt.Errorf("read the cloud assembly: %w", err)
		}
		var body map[string]any
		if err := json.Unmarshal(b, &body); err != nil {
			return nil, fmt.Errorf("read the cloud assembly %s: %w", f, err)
		}
		if _, ok := body["Resources"]; !ok {
			continue
		}
		out = append(out, Template{Name: f, Body: body, Bytes: len(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// ReadJSON decodes one JSON file of a cloud assembly (manifest.json, an
// asset manifest, a metadata file) into v; errors name the file.
func ReadJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read the cloud assembly: %w", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("read the cloud assembly %s: %w", path, err)
	}
	return nil
}

// Figures are the largest amounts the templates reach, per quota ID, with
// where each is reached.
type Figures struct {
	Max   map[string]int
	Where map[string]string
}

func (f *Figures) note(id, where string, got int) {
	if got >= f.Max[id] {
		if got > f.Max[id] || f.Where[id] == "" || where < f.Where[id] {
			f.Where[id] = where
		}
		f.Max[id] = got
	}
}

// Check returns one *quotas.ExceededError per measurement over its quota,
// largest first within each quota; none when everything fits.
func Check(ts []Template) []error {
	var errs []error
	measure(ts, func(q quotas.Quota, where string, got int) {
		if err := q.Check(where, got); err != nil {
			errs = append(errs, err)
		}
	})
	return errs
}

// Measure gives the largest value each quota's measurement reaches.
func Measure(ts []Template) Figures {
	f := Figures{Max: map[string]int{}, Where: map[string]string{}}
	measure(ts, func(q quotas.Quota, where string, got int) { f.note(q.ID, where, got) })
	return f
}

func resources(t Template) map[string]map[string]any {
	out := map[string]map[string]any{}
	rs, _ := t.Body["Resources"].(map[string]any)
	for id, r := range rs {
		if m, ok := r.(map[string]any); ok {
			out[id] = m
		}
	}
	return out
}

func props(r map[string]any) map[string]any {
	p, _ := r["Properties"].(map[string]any)
	return p
}

// subject names a resource for a message, with the target it belongs to
// when the template says (stack's TargetTemplate metadata).
func subject(t Template, id string, r map[string]any) string {
	s := fmt.Sprintf("%s resource %s", stackName(t), id)
	if md, ok := r["Metadata"].(map[string]any); ok {
		if tg, ok := md["stsrotator:target"].(string); ok {
			s += " (target " + tg + ")"
		}
	}
	return s
}

func stackName(t Template) string {
	return "stack " + strings.TrimSuffix(strings.TrimSuffix(t.Name, ".json"), ".template") + ""
}

func count(m any) int {
	mm, _ := m.(map[string]any)
	return len(mm)
}

// size is the length of v rendered at its longest, as compact JSON
// (policy quotas exclude whitespace; compact JSON has none outside
// strings).
func size(t Template, v any) int {
	b, _ := json.Marshal(WorstCase(t.Body, v))
	return len(b)
}

// busPolicy gathers the statements a stack adds to one event bus's policy.
type busPolicy struct {
	where string
	stmts []any
}

func measure(ts []Template, report func(q quotas.Quota, where string, got int)) {
	report(quotas.StacksPerAccount, "the cloud assembly (its stacks, nested ones included)", len(ts))
	rules, schedules := 0, 0
	for _, t := range ts {
		st := stackName(t)
		report(quotas.StackResources, st, count(t.Body["Resources"]))
		report(quotas.StackOutputs, st, count(t.Body["Outputs"]))
		report(quotas.StackParameters, st, count(t.Body["Parameters"]))
		report(quotas.StackTemplateBytes, st, t.Bytes)

		rs := resources(t)
		inline := map[string]int{}
		perms := map[string]int{}
		filters := map[string]int{}
		busPolicies := map[string]*busPolicy{}
		ids := make([]string, 0, len(rs))
		for id := range rs {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			r := rs[id]
			p := props(r)
			where := subject(t, id, r)
			switch r["Type"] {
			case "AWS::Events::Rule":
				if bus, ok := p["EventBusName"]; !ok || bus == "default" {
					rules++
				}
				targets, _ := p["Targets"].([]any)
				report(quotas.TargetsPerRule, where, len(targets))
				if pat, ok := p["EventPattern"]; ok {
					b, _ := json.Marshal(pat)
					report(quotas.EventPattern, where, len(b))
				}
			case "AWS::Scheduler::Schedule":
				schedules++
			case "AWS::Lambda::Permission":
				fn, _ := json.Marshal(p["FunctionName"])
				perms[string(fn)] += permissionSize(t, id, p)
			case "AWS::Lambda::Function":
				if env, ok := p["Environment"].(map[string]any); ok {
					n := 0
					vars, _ := env["Variables"].(map[string]any)
					for k, v := range vars {
						n += len(k) + len(fmt.Sprint(WorstCase(t.Body, v)))
					}
					report(quotas.LambdaEnvironment, where, n)
				}
				if d, ok := p["Description"].(string); ok {
					report(quotas.LambdaDescription, where, len([]rune(d)))
				}
			case "AWS::IAM::Role":
				pols, _ := p["Policies"].([]any)
				for _, pol := range pols {
					if m, ok := pol.(map[string]any); ok {
						inline[id] += size(t, m["PolicyDocument"])
					}
				}
				managed, _ := p["ManagedPolicyArns"].([]any)
				report(quotas.ManagedPoliciesPerRole, where, len(managed))
				report(quotas.RoleTrustPolicy, where, size(t, p["AssumeRolePolicyDocument"]))
			case "AWS::IAM::Policy":
				roles, _ := p["Roles"].([]any)
				for _, role := range roles {
					if m, ok := role.(map[string]any); ok {
						if ref, ok := m["Ref"].(string); ok {
							inline[ref] += size(t, p["PolicyDocument"])
						}
					}
				}
			case "AWS::IAM::ManagedPolicy":
				report(quotas.ManagedPolicy, where, size(t, p["PolicyDocument"]))
			case "AWS::SecretsManager::ResourcePolicy":
				report(quotas.SecretResourcePolicy, where, size(t, p["ResourcePolicy"]))
			case "AWS::Events::EventBusPolicy":
				// CloudFormation adds Statement under StatementId as its Sid;
				// every statement on one bus counts toward its one policy.
				stmt, _ := WorstCase(t.Body, p["Statement"]).(map[string]any)
				if stmt != nil {
					stmt["Sid"] = p["StatementId"]
					bus := fmt.Sprint(p["EventBusName"])
					if busPolicies[bus] == nil {
						busPolicies[bus] = &busPolicy{where: where}
					}
					busPolicies[bus].stmts = append(busPolicies[bus].stmts, stmt)
				}
			case "AWS::KMS::Key":
				report(quotas.KeyPolicy, where, size(t, p["KeyPolicy"]))
			case "AWS::Logs::SubscriptionFilter":
				g, _ := json.Marshal(p["LogGroupName"])
				filters[string(g)]++
			case "AWS::CloudWatch::Alarm":
				n := 0
				ms, _ := p["Metrics"].([]any)
				for _, m := range ms {
					if mm, ok := m.(map[string]any); ok && mm["MetricStat"] != nil {
						n++
					}
				}
				report(quotas.AlarmMetrics, where, n)
			}
		}
		for _, bus := range sortedKeys(busPolicies) {
			bp := busPolicies[bus]
			where := bp.where
			if len(bp.stmts) > 1 {
				where = fmt.Sprintf("%s: the %s event bus's policy (%d statements)", st, bus, len(bp.stmts))
			}
			b, _ := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": bp.stmts})
			report(quotas.EventBusPolicy, where, len(b))
		}
		for _, id := range sortedKeys(inline) {
			report(quotas.RoleInlinePolicies, subject(t, id, rs[id]), inline[id])
		}
		for _, fn := range sortedKeys(perms) {
			// Lambda wraps the statements in {"Version","Id","Statement":[…]}.
			report(quotas.LambdaFunctionPolicy, fmt.Sprintf("%s: the resource-based policy of function %s", st, fn), perms[fn]+len(`{"Version":"2012-10-17","Id":"default","Statement":[]}`))
		}
		for _, g := range sortedKeys(filters) {
			// Ours only: preflight checks the slot the log group's owner may use.
			report(quotas.SubscriptionFilters, fmt.Sprintf("%s: log group %s", st, g), filters[g])
		}
	}
	report(quotas.RulesPerBus, "the default event bus (rules of every stack)", rules)
	report(quotas.Schedules, "the cloud assembly", schedules)
}

// permissionSize is the statement Lambda adds to the function's policy for
// one AWS::Lambda::Permission, at its longest, plus the comma between
// statements.
func permissionSize(t Template, id string, p map[string]any) int {
	stmt := map[string]any{
		"Sid":       strings.Repeat("s", min(100, len(id)+20)),
		"Effect":    "Allow",
		"Principal": map[string]any{"Service": p["Principal"]},
		"Action":    p["Action"],
		"Resource":  p["FunctionName"],
	}
	cond := map[string]any{}
	if v, ok := p["SourceArn"]; ok {
		cond["ArnLike"] = map[string]any{"AWS:SourceArn": v}
	}
	if v, ok := p["SourceAccount"]; ok {
		cond["StringEquals"] = map[string]any{"AWS:SourceAccount": v}
	}
	if len(cond) > 0 {
		stmt["Condition"] = cond
	}
	return size(t, stmt) + 1
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Longest deploy-time values, so a measurement bounds every Region and
// partition.
const (
	worstPartition = "aws-iso-b"
	worstRegion    = "ap-southeast-7xx"
	worstAccount   = "123456789012"
	worstSuffix    = "amazonaws.com.cn"
	// worstGenerated bounds a generated physical name: nested stack name,
	// logical ID and CloudFormation's suffix.
	worstGenerated = 256
)

// WorstCase replaces every deploy-time value in v (a template fragment of
// tpl) with the longest value it can take: pseudo parameters, references
// to secrets (their ARN from their name), to parameters and attributes
// (ARNs with a generated name), joins rendered.
func WorstCase(tpl map[string]any, v any) any {
	switch x := v.(type) {
	case []any:
		out := make([]any, len(x))
		for i := range x {
			out[i] = WorstCase(tpl, x[i])
		}
		return out
	case map[string]any:
		if ref, ok := x["Ref"].(string); ok && len(x) == 1 {
			switch ref {
			case "AWS::Partition":
				return worstPartition
			case "AWS::Region":
				return worstRegion
			case "AWS::AccountId":
				return worstAccount
			case "AWS::URLSuffix":
				return worstSuffix
			}
			if rs, ok := tpl["Resources"].(map[string]any); ok {
				if r, ok := rs[ref].(map[string]any); ok && r["Type"] == "AWS::SecretsManager::Secret" {
					return fmt.Sprintf("arn:%s:secretsmanager:%s:%s:secret:%v-abcdef", worstPartition, worstRegion, worstAccount, props(r)["Name"])
				}
			}
			return worstArn()
		}
		if _, ok := x["Fn::GetAtt"]; ok && len(x) == 1 {
			return worstArn()
		}
		if j, ok := x["Fn::Join"].([]any); ok && len(x) == 1 && len(j) == 2 {
			sep, _ := j[0].(string)
			parts, _ := j[1].([]any)
			var b strings.Builder
			for i, part := range parts {
				if i > 0 {
					b.WriteString(sep)
				}
				b.WriteString(fmt.Sprint(WorstCase(tpl, part)))
			}
			return b.String()
		}
		out := map[string]any{}
		for k, e := range x {
			out[k] = WorstCase(tpl, e)
		}
		return out
	}
	return v
}

func worstArn() string {
	return fmt.Sprintf("arn:%s:logs:%s:%s:log-group:%s:*", worstPartition, worstRegion, worstAccount, strings.Repeat("n", worstGenerated))
}
