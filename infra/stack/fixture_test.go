package stack_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/stsrotator/stsrotator/infra/asset"
	"github.com/stsrotator/stsrotator/infra/plan"
	"github.com/stsrotator/stsrotator/infra/plan/plantest"
	"github.com/stsrotator/stsrotator/infra/stack"
	"github.com/stsrotator/stsrotator/shared/config"
)

// fixture is one synthesised service and its templates as plain JSON, so
// most checks walk Go maps instead of crossing into jsii per assertion.
type fixture struct {
	plan *plan.Plan
	// replicaKeys are the per-region replica-key stacks, added as the app
	// adds them.
	replicaKeys []awscdk.Stack
	svc         *stack.Service
	// reactor is the ExpiredToken reactor and log watcher, wired as the
	// app wires them.
	reactor *stack.Reactor
	root    assertions.Template
	rootJS  map[string]any
	// shard templates by shard ID
	shards  map[string]assertions.Template
	shardJS map[string]map[string]any
	// logSubsJS is the log subscriptions stack's template, nil without
	// log groups.
	logSubsJS map[string]any
	took      time.Duration
	buildErr  error
}

var (
	exampleOnce, bigOnce sync.Once
	exampleFx, bigFx     *fixture
	// tmpDirs are the fixtures' staging and cdk.out directories; they live
	// as long as the cached fixtures, so TestMain removes them.
	tmpDirs []string
)

func TestMain(m *testing.M) {
	code := m.Run()
	// Stops the jsii Node process and removes the runtime it unpacked.
	jsii.Close()
	for _, d := range tmpDirs {
		if err := os.RemoveAll(d); err != nil {
			fmt.Fprintf(os.Stderr, "FAIL: remove the fixture's %s: %v\n", d, err)
			code = 1
		}
	}
	os.Exit(code)
}

// example is the repository's stsrotator.yaml, as `make synth` deploys it.
func example(t *testing.T) *fixture {
	t.Helper()
	exampleOnce.Do(func() {
		src, err := os.ReadFile("../../stsrotator.yaml")
		if err != nil {
			exampleFx = &fixture{buildErr: err}
			return
		}
		exampleFx = build(config.DefaultPath, src)
	})
	if exampleFx.buildErr != nil {
		t.Fatal(exampleFx.buildErr)
	}
	return exampleFx
}

// big is a generated 2,000-target config.
func big(t *testing.T) *fixture {
	t.Helper()
	bigOnce.Do(func() { bigFx = build("big.yaml", plantest.Config(2000)) })
	if bigFx.buildErr != nil {
		t.Fatal(bigFx.buildErr)
	}
	return bigFx
}

func build(file string, src []byte) (fx *fixture) {
	fx = &fixture{shards: map[string]assertions.Template{}, shardJS: map[string]map[string]any{}}
	defer func() {
		if r := recover(); r != nil {
			fx.buildErr = fmt.Errorf("synth panicked: %v", r)
		}
	}()
	cfg, err := config.Parse(file, src)
	if err != nil {
		fx.buildErr = err
		return fx
	}
	if fx.plan, err = plan.New(cfg, src); err != nil {
		fx.buildErr = err
		return fx
	}
	tmp, err := os.MkdirTemp("", "stsrotator-stack-test-")
	if err != nil {
		fx.buildErr = err
		return fx
	}
	tmpDirs = append(tmpDirs, tmp)
	bin := filepath.Join(tmp, "bin")
	if err := os.WriteFile(bin, []byte("not a real binary: the stack only hashes it"), 0o755); err != nil {
		fx.buildErr = err
		return fx
	}
	code := filepath.Join(tmp, "code")
	if err := asset.Stage(code, bin, fx.plan.Files()); err != nil {
		fx.buildErr = err
		return fx
	}
	start := time.Now()
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(filepath.Join(tmp, "cdk.out"))})
	if fx.svc, err = stack.New(app, "Stsrotator", stack.Props{StackName: "stsrotator", Plan: fx.plan, CodeDir: code, WorkDir: tmp}); err != nil {
		fx.buildErr = err
		return fx
	}
	routes, _ := json.Marshal(fx.svc.Routes())
	reactorCode, logwatchCode := filepath.Join(tmp, "reactor"), filepath.Join(tmp, "logwatch")
	if err := asset.Stage(reactorCode, bin, map[string][]byte{"stsrotator.yaml": src, "rotators.json": routes}); err != nil {
		fx.buildErr = err
		return fx
	}
	if err := asset.Stage(logwatchCode, bin, map[string][]byte{"stsrotator.yaml": src}); err != nil {
		fx.buildErr = err
		return fx
	}
	fx.reactor = fx.svc.AddReactor(reactorCode)
	fx.svc.AddLogWatch(fx.reactor, logwatchCode)
	fx.replicaKeys = fx.svc.AddReplicaKeys(app)
	stack.NagService(fx.svc)
	for _, st := range fx.replicaKeys {
		stack.Nag(st)
	}
	fx.root = assertions.Template_FromStack(fx.svc.Stack, nil)
	fx.rootJS = *fx.root.ToJSON()
	for _, sh := range fx.svc.Shards {
		tpl := assertions.Template_FromStack(sh.Stack, nil)
		fx.shards[sh.Plan.ID] = tpl
		fx.shardJS[sh.Plan.ID] = *tpl.ToJSON()
	}
	if fx.reactor.LogSubscriptions != nil {
		fx.logSubsJS = *assertions.Template_FromStack(fx.reactor.LogSubscriptions, nil).ToJSON()
	}
	fx.took = time.Since(start)
	return fx
}

// resources of one type in a template, by logical ID.
func resources(tpl map[string]any, typ string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range tpl["Resources"].(map[string]any) {
		rm := r.(map[string]any)
		if rm["Type"] == typ {
			out[id] = rm
		}
	}
	return out
}

func props(r map[string]any) map[string]any {
	p, _ := r["Properties"].(map[string]any)
	return p
}

// js renders v as compact JSON, for comparisons and messages.
func js(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// assert runs a jsii assertion, turning its panic into a test error.
func assert(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s: %v", what, r)
		}
	}()
	f()
}

// param resolves a nested stack's parameter to what the root passes in,
// e.g. {"Fn::GetAtt":["Key…","Arn"]}.
func (fx *fixture) param(shardID, name string) any {
	for id, r := range resources(fx.rootJS, "AWS::CloudFormation::Stack") {
		if strings.HasPrefix(id, shardID+"NestedStack") {
			ps, _ := props(r)["Parameters"].(map[string]any)
			return ps[name]
		}
	}
	return nil
}

// rootRef is the logical ID of the only root resource of a type.
func (fx *fixture) rootRef(t *testing.T, typ string) string {
	t.Helper()
	rs := resources(fx.rootJS, typ)
	if len(rs) != 1 {
		t.Fatalf("want one %s in the root stack, got %d", typ, len(rs))
	}
	for id := range rs {
		return id
	}
	return ""
}

// refersTo says whether expr, in shard shardID, resolves to an attribute
// of the root resource rootID (through the nested stack's parameter).
func (fx *fixture) refersTo(shardID string, expr any, rootID string) bool {
	m, ok := expr.(map[string]any)
	if !ok {
		return false
	}
	if p, ok := m["Ref"].(string); ok {
		if v := fx.param(shardID, p); v != nil {
			return strings.Contains(js(v), `"`+rootID+`"`)
		}
	}
	return false
}
