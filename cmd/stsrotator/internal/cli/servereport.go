package cli

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/stsrotator/stsrotator/shared/credprovider"
	"github.com/stsrotator/stsrotator/shared/events"
	"github.com/stsrotator/stsrotator/shared/humantime"
)

// ServeReportEvery is the least time between two reports serve sends about
// one expired secret version. One report is enough to get the target
// rotated (the reactor debounces the rest), and every client of serve
// retrying must not become a stream of events; a version still expired
// ServeReportEvery later is reported again, in case the first report was
// lost or the rotation it asked for failed.
const ServeReportEvery = 10 * time.Minute

// expiryReporter is serve's sensor. serve never sees AWS refuse its
// clients, but it sees the moment they start failing: the secret, re-read,
// holds only expired credentials, so serve answers 503 and the key its
// clients hold has expired too. It then publishes one "ExpiredToken
// Observed" report (observer.via "serve") to the bus the secret names.
type expiryReporter struct {
	api events.Putter
	// bus is an explicit bus ($STSROTATOR_EVENT_BUS); "" means the
	// secret's reportBus, else this account's default bus, as for
	// report-expired.
	bus          string
	region, host string
	now          func() time.Time
	every        time.Duration
	logf         func(string, ...any)

	mu   sync.Mutex
	last map[string]time.Time // by secret ID, version and masked key
	wg   sync.WaitGroup
}

// observe hears every error serve's credentials source returned and
// reports the ones that mean the secret holds only expired credentials.
// It never blocks the request: the report is published in the background,
// and a failure is logged (masked), not returned.
func (r *expiryReporter) observe(ctx context.Context, err error) {
	var ee *credprovider.ExpiredError
	if r == nil || !errors.As(err, &ee) {
		return
	}
	now := r.now()
	key := ee.SecretID + "\x00" + ee.VersionID + "\x00" + ee.MaskedKey
	r.mu.Lock()
	if last, ok := r.last[key]; ok && now.Sub(last) < r.every {
		r.mu.Unlock()
		return
	}
	if r.last == nil {
		r.last = map[string]time.Time{}
	}
	r.last[key] = now
	r.mu.Unlock()

	bus := r.bus
	if bus == "" {
		bus = ee.ReportBus
	}
	if bus == "" {
		bus = events.DefaultBus
	}
	// ExpiredToken by convention: it is what AWS answers the clients'
	// calls with once the key they hold has expired. The message says what
	// serve itself saw.
	d := events.ExpiredToken{
		SchemaVersion: events.SchemaVersion, Target: ee.Target, SecretID: ee.SecretID, AccessKeyID: ee.MaskedKey,
		Region: r.region, ErrorCode: events.CodeExpiredToken,
		ErrorMessage: fmt.Sprintf("stsrotator serve refused its clients (HTTP 503): the secret, re-read at %s, holds only key %s (version %s), which expired at %s; "+
			"serve hands out no expired credentials, so its clients have no valid key until the secret is rotated",
			ee.ReadAt.UTC().Format(time.RFC3339), ee.MaskedKey, ee.VersionID, ee.Expiration.UTC().Format(time.RFC3339)),
		ObservedAt: ee.ReadAt.UTC().Truncate(time.Second),
		Observer:   events.Observer{App: "stsrotator serve", Host: r.host, Via: events.ViaServe},
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), credprovider.DefaultFetchTimeout)
		defer cancel()
		id, err := events.Publish(ctx, r.api, bus, d)
		if err != nil {
			r.logf("could not report expired key %s of %s to event bus %s (next try after %s): %s",
				ee.MaskedKey, ee.SecretID, bus, humantime.Span(r.every), oneLine(events.MaskKeys(err.Error())))
			return
		}
		r.logf("reported expired key %s of %s to event bus %s (event %s)", ee.MaskedKey, ee.SecretID, bus, id)
	}()
}

// wait blocks until every report started so far is published or failed.
func (r *expiryReporter) wait() {
	if r != nil {
		r.wg.Wait()
	}
}
