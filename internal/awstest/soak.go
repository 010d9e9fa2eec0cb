package awstest

import (
	"os"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// SoakEnv names the variable `make soak` sets to run the resilience tests
// at full length; without it they run a short version, never a skip.
const SoakEnv = "STSROTATOR_SOAK"

// Soak reports whether the long versions were asked for.
func Soak() bool { return os.Getenv(SoakEnv) != "" }

// Scale is short in `make test` and long under `make soak`.
func Scale[T any](short, long T) T {
	if Soak() {
		return long
	}
	return short
}

// Seed is the fault seed: STSROTATOR_SEED when set, so a failing run can
// be replayed, else def.
func Seed(def uint64) uint64 {
	if s, err := strconv.ParseUint(os.Getenv("STSROTATOR_SEED"), 10, 64); err == nil {
		return s
	}
	return def
}

// Retrying is a copy of e whose clients use retryer; it shares e's
// emulator, transport and namespace.
func (e *Env) Retrying(retryer func() aws.Retryer) *Env {
	c := *e
	c.Config = e.Config.Copy()
	c.Config.Retryer = retryer
	c.STS = sts.NewFromConfig(c.Config)
	c.Secrets = secretsmanager.NewFromConfig(c.Config)
	return &c
}
