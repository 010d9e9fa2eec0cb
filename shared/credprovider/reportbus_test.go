package credprovider

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/stsrotator/stsrotator/internal/awstest"
	"github.com/stsrotator/stsrotator/internal/mototest"
	"github.com/stsrotator/stsrotator/shared/events"
	"github.com/stsrotator/stsrotator/shared/secretfmt"
)

// Issue proof: the provider of a consumer in a reader account
// (210987654321) reports a refused key to the bus its secret's metadata
// names — the stsrotator account's default bus, by ARN — with no bus
// configured, and the report is delivered there (moto routes cross-account
// PutEvents by ARN); the reader's own default bus gets nothing.
func TestReportGoesToTheSecretsBus(t *testing.T) {
	moto := mototest.Start(t)
	ctx := awstest.Context(t)
	const stsrotatorAccount, readerAccount = "123456789012", "210987654321"
	owner, reader := moto.Config(stsrotatorAccount), moto.Config(readerAccount)
	busArn, delivered := moto.ReportInbox(t, owner, stsrotatorAccount)
	_, ownBus := moto.ReportInbox(t, reader, readerAccount)

	v := value(51, time.Now().Add(time.Hour), time.Now().Add(40*time.Minute))
	v.Meta.Target, v.Meta.ReportBus = "audit-reader", busArn
	body, _ := secretfmt.Marshal(v)
	awstest.Remember(body)
	sec, err := secretsmanager.NewFromConfig(owner).CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String("stsrotator/audit-reader"), SecretString: aws.String(string(body))})
	if err != nil {
		t.Fatal(err)
	}

	p := New(secretsmanager.NewFromConfig(reader), "", WithSecretID(aws.ToString(sec.ARN)))
	rep := &Reporter{API: eventbridge.NewFromConfig(reader), App: "audit", Host: "h", OnError: func(err error) { t.Errorf("report not published: %v", err) }}
	// AWS refuses the key: the secret has not been rotated yet.
	refuse := &expiringSTS{refused: map[string]bool{v.AccessKeyID: true}, byKey: map[string]int{}}
	appCfg := Config(reader, p, rep)
	appCfg.BaseEndpoint = aws.String(refuse.server(t, moto.URL).URL)
	if _, err := sts.NewFromConfig(appCfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err == nil {
		t.Fatal("a refused key's call succeeded")
	}
	rep.Wait()
	if p.ReportBus() != busArn {
		t.Fatalf("ReportBus() = %q, want the secret's %q", p.ReportBus(), busArn)
	}
	got := delivered()
	if len(got) != 1 {
		t.Fatalf("%d reports on the stsrotator account's bus, want 1 (%d on the reader's own)", len(got), len(ownBus()))
	}
	d, err := events.ParseExpiredToken([]byte(got[0]))
	if err != nil || d.Target != "audit-reader" || d.AccessKeyID != v.MaskedKey() || d.ErrorCode != events.CodeExpiredToken {
		t.Fatalf("report %+v: %v", d, err)
	}
	if n := len(ownBus()); n != 0 {
		t.Fatalf("%d reports on the reader's own default bus, want 0", n)
	}
}
