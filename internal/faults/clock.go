package faults

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// STS has the SDK's signatures, so it is rotation.STS without importing
// it: the packages under test can then use this one in their own tests.
type STS interface {
	AssumeRole(context.Context, *sts.AssumeRoleInput, ...func(*sts.Options)) (*sts.AssumeRoleOutput, error)
	GetCallerIdentity(context.Context, *sts.GetCallerIdentityInput, ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error)
}

// SimulatedExpiry is an STS whose AssumeRole Expiration follows a
// simulated clock. The emulator stamps Expiration as wall-clock now plus
// the duration and cannot be given a clock, so without this a simulated
// hour would mint credentials that expired in the simulated past. It adds
// the simulated clock's offset from the wall clock and changes nothing
// else: the session length the emulator chose is kept to the second.
type SimulatedExpiry struct {
	STS STS
	// Now is the simulated clock.
	Now func() time.Time
}

// AssumeRole calls the emulator and re-bases the Expiration it returned.
func (s SimulatedExpiry) AssumeRole(ctx context.Context, in *sts.AssumeRoleInput, opts ...func(*sts.Options)) (*sts.AssumeRoleOutput, error) {
	out, err := s.STS.AssumeRole(ctx, in, opts...)
	if err != nil || out.Credentials == nil || out.Credentials.Expiration == nil {
		return out, err
	}
	shifted := *out
	creds := *out.Credentials
	creds.Expiration = aws.Time(creds.Expiration.Add(time.Until(s.Now())))
	shifted.Credentials = &creds
	return &shifted, nil
}

// GetCallerIdentity is the emulator's own.
func (s SimulatedExpiry) GetCallerIdentity(ctx context.Context, in *sts.GetCallerIdentityInput, opts ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error) {
	return s.STS.GetCallerIdentity(ctx, in, opts...)
}
