package consumersim

import (
	"context"
	"errors"
	"testing"
	"time"
)

// script is a source whose answers the test sets.
type script struct {
	next Creds
	err  error
}

func (s *script) Fetch(context.Context, time.Time) (Creds, error) { return s.next, s.err }

func TestModelRules(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	old := Creds{Key: "OLD", Expires: t0.Add(time.Hour)}
	fresh := Creds{Key: "NEW", Expires: t0.Add(4 * time.Hour)}
	down := errors.New("secret unreadable")
	cases := []struct {
		why  string
		m    Signer
		at   time.Duration // after t0, for the second request
		err  error         // the source's answer to the second fetch
		want string        // key signed with, "" for a failed request
		// fetches after both requests
		fetches int
		// life is the first key's lifetime; zero means an hour.
		life time.Duration
	}{
		{"botocore with 16 min left does not refresh", &Cache{Spec: Botocore}, 44 * time.Minute, nil, "OLD", 1, 0},
		{"botocore with 14 min left refreshes and signs with the new key", &Cache{Spec: Botocore}, 46 * time.Minute, nil, "NEW", 2, 0},
		{"botocore keeps its key when an advisory refresh fails (12 min left)", &Cache{Spec: Botocore}, 48 * time.Minute, down, "OLD", 2, 0},
		{"botocore fails the request when a mandatory refresh fails (9 min left)", &Cache{Spec: Botocore}, 51 * time.Minute, down, "", 2, 0},
		{"JS v3 refreshes in the background inside 5 min: this request still signs with the old key", &Cache{Spec: JSv3}, 56 * time.Minute, nil, "OLD", 2, 0},
		{"JS v3 ignores a failed background refresh", &Cache{Spec: JSv3}, 56 * time.Minute, down, "OLD", 2, 0},
		{"JS v3 fails the request when expired credentials cannot be replaced", &Cache{Spec: JSv3}, 61 * time.Minute, down, "", 2, 0},
		{"Java's container provider prefetches an hour after the last fetch, with 2 h left", &Cache{Spec: JavaContainer}, 60 * time.Minute, nil, "NEW", 2, 3 * time.Hour},
		{"Java's container provider does not prefetch 59 min after the last fetch, with 2 h left", &Cache{Spec: JavaContainer}, 59 * time.Minute, nil, "OLD", 1, 3 * time.Hour},
		{"Java's container provider keeps its key when a prefetch fails (10 min left)", &Cache{Spec: JavaContainer}, 50 * time.Minute, down, "OLD", 2, 0},
		{"Java's container provider fails when a stale refresh fails (1 min left)", &Cache{Spec: JavaContainer}, 59 * time.Minute, down, "", 2, 0},
		{"Java's process provider does not refresh with 16 s left", &Cache{Spec: JavaProcess}, time.Hour - 16*time.Second, nil, "OLD", 1, 0},
		{"Go v2 over credential_process keeps its key to the last second", &Cache{Spec: GoProcess}, time.Hour - time.Second, nil, "OLD", 1, 0},
		{"Go v2 over credential_process fails once the key expired and the process fails", &Cache{Spec: GoProcess}, time.Hour, down, "", 2, 0},
		{"Go v2 over the container endpoint refreshes with 5 min left", &Cache{Spec: GoContainer}, 55 * time.Minute, nil, "NEW", 2, 0},
		{"a control loaded once signs with its key after it expired", &LoadOnce{}, 2 * time.Hour, nil, "OLD", 1, 0},
	}
	for _, c := range cases {
		t.Run(c.why, func(t *testing.T) {
			first := old
			if c.life > 0 {
				first.Expires = t0.Add(c.life)
			}
			src := &script{next: first}
			switch m := c.m.(type) {
			case *Cache:
				m.Src = src
			case *LoadOnce:
				m.Src = src
			}
			if got, err := c.m.Sign(context.Background(), t0); err != nil || got.Key != "OLD" {
				t.Fatalf("first request: %v, %v", got, err)
			}
			src.next, src.err = fresh, c.err
			got, err := c.m.Sign(context.Background(), t0.Add(c.at))
			if (err != nil) != (c.want == "") || got.Key != c.want {
				t.Errorf("second request signed with %q (error %v), want %q", got.Key, err, c.want)
			}
			if c.m.Fetches() != c.fetches {
				t.Errorf("%d fetches, want %d", c.m.Fetches(), c.fetches)
			}
		})
	}
}
