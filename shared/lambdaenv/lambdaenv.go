package lambdaenv

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
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
	// RotatorFunction is the name of the rotator, for functions that ask it
	// to rotate a target.
	RotatorFunction = "STSROTATOR_ROTATOR_FUNCTION"
	// EventBus is the bus ExpiredToken reports are published to.
	EventBus = "STSROTATOR_EVENT_BUS"
)

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
