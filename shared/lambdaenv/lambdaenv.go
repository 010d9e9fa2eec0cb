package lambdaenv

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Environment variables the stack sets on its functions.
const (
	// ConfigPath is the path of the validated stsrotator.yaml inside the
	// function's package; see ConfigFile for the default.
	ConfigPath = "STSROTATOR_CONFIG"
	// KMSKeyID encrypts secrets the rotator creates on first write.
	KMSKeyID = "STSROTATOR_KMS_KEY_ID"
	// VerifyMode selects how minted credentials are checked before they are
	// stored; see the rotation package's Verify* constants.
	VerifyMode = "STSROTATOR_VERIFY"
	// Concurrency overrides the config's rotator.concurrency.
	Concurrency = "STSROTATOR_CONCURRENCY"
	// TopicArn is the SNS topic alerts go to.
	TopicArn = "STSROTATOR_TOPIC_ARN"
	// AlertTable is the DynamoDB table the reactor's execution
	// environments share their alert debounce in (reaction.TableClaims);
	// unset, each keeps its own in memory.
	AlertTable = "STSROTATOR_ALERT_TABLE"
	// RotatorFunction is the name of the rotator, for functions that ask it
	// to rotate a target.
	RotatorFunction = "STSROTATOR_ROTATOR_FUNCTION"
	// EventBus is the bus ExpiredToken reports are published to.
	EventBus = "STSROTATOR_EVENT_BUS"
	// SourceKeySecret is the secret holding the IAM user's access key, set
	// on rotators with sourceCredentials: iam-user targets and on the
	// source-key rotator.
	SourceKeySecret = "STSROTATOR_SOURCE_KEY_SECRET"
	// SourceUser and SourceUserArn name the IAM user whose key the
	// source-key rotator rotates; set only on that function.
	SourceUser    = "STSROTATOR_SOURCE_USER"
	SourceUserArn = "STSROTATOR_SOURCE_USER_ARN"
	// DevClockFile names a file holding a duration (e.g. "41m") that the
	// functions add to the wall clock, so the local stack and its
	// end-to-end test can pass refreshBefore in seconds. It is honoured
	// only when AWS_ENDPOINT_URL points the function at an emulator.
	DevClockFile = "STSROTATOR_DEV_CLOCK_FILE"
	// StackName is the root stack's name (cdk -c stackName), set on the
	// rotators and the reactor: targets without a sessionName get
	// config.DefaultSessionName of it (config.Config.InStack). Unset
	// means config.DefaultStack.
	StackName = "STSROTATOR_STACK"
)

// Clock is the functions' time source: the wall clock, or on an emulator
// with DevClockFile set, the wall clock moved by the file's duration.
func Clock() func() time.Time {
	file := os.Getenv(DevClockFile)
	if file == "" || os.Getenv("AWS_ENDPOINT_URL") == "" {
		return time.Now
	}
	return func() time.Time {
		now := time.Now()
		b, err := os.ReadFile(file)
		if err != nil {
			return now
		}
		d, err := time.ParseDuration(strings.TrimSpace(string(b)))
		if err != nil {
			return now
		}
		return now.Add(d)
	}
}

// SetDevClock moves the clock of every function reading file to the wall
// clock plus offset.
func SetDevClock(file string, offset time.Duration) error {
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, []byte(offset.String()), 0o600); err != nil {
		return err
	}
	// Rename is atomic, so a reader never sees a half-written offset.
	return os.Rename(tmp, file)
}

// AWSMaxAttempts is how many times every function's SDK clients try an
// AWS call (the SDK's standard retryer and backoff): enough to ride out a
// throttling burst without outlasting a sweep. The resilience suite runs
// with the same number.
const AWSMaxAttempts = 5

// RoutesFile, next to the reactor's bootstrap, maps target names to the
// rotator function serving them when the stack has more than one; without
// it every target goes to RotatorFunction.
const RoutesFile = "rotators.json"

// ConfigFile is the config's file name inside every function package, next
// to bootstrap.
const ConfigFile = "stsrotator.yaml"

// ConfigFilePath resolves where a function finds its config: the explicit
// variable, else next to the handler in LAMBDA_TASK_ROOT, else the working
// directory (local runs).
func ConfigFilePath() string {
	if p := os.Getenv(ConfigPath); p != "" {
		return p
	}
	if root := os.Getenv("LAMBDA_TASK_ROOT"); root != "" {
		return filepath.Join(root, ConfigFile)
	}
	return ConfigFile
}

// RotatorFor returns how a function finds the rotator serving a target:
// the routes file if the package carries one, else RotatorFunction.
func RotatorFor() (func(target string) string, error) {
	fallback := os.Getenv(RotatorFunction)
	dir := os.Getenv("LAMBDA_TASK_ROOT")
	if dir == "" {
		dir = filepath.Dir(ConfigFilePath())
	}
	data, err := os.ReadFile(filepath.Join(dir, RoutesFile))
	if errors.Is(err, fs.ErrNotExist) {
		if fallback == "" {
			return nil, fmt.Errorf("no %s and %s is not set: the reactor cannot reach a rotator", RoutesFile, RotatorFunction)
		}
		return func(string) string { return fallback }, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", RoutesFile, err)
	}
	var routes map[string]string
	if err := json.Unmarshal(data, &routes); err != nil {
		return nil, fmt.Errorf("read %s: %w (want {\"target\": \"function-name\"})", RoutesFile, err)
	}
	return func(target string) string {
		if fn, ok := routes[target]; ok {
			return fn
		}
		return fallback
	}, nil
}

// Int reads an optional positive integer variable; unset gives def.
func Int(name string, def int) (int, error) {
	s := os.Getenv(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("environment variable %s=%q: want a positive whole number", name, s)
	}
	return n, nil
}
