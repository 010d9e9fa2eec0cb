package reaction

import (
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/stsrotator/stsrotator/internal/awstest"
)

// TableClaims, on kumo's DynamoDB: of 50 concurrent claims for one key
// inside a window exactly one sends; the next claim after the window
// sends with the 49 suppressed ones counted; a rotation's claim always
// sends; a released claim lets the retry send with its count intact; and
// keys are independent.
func TestTableClaims(t *testing.T) {
	env := awstest.Start(t)
	ctx := awstest.Context(t)
	db := dynamodb.NewFromConfig(env.Config)
	table := env.Unique("claims")
	if _, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{TableName: aws.String(table), BillingMode: ddbtypes.BillingModePayPerRequest,
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String(TableKey), KeyType: ddbtypes.KeyTypeHash}},
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String(TableKey), AttributeType: ddbtypes.ScalarAttributeTypeS}}}); err != nil {
		t.Fatal(err)
	}
	c := TableClaims{DB: db, Table: table}
	now := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	var wg sync.WaitGroup
	sent := 0
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, _, err := c.Claim(ctx, "app-0", now, DefaultWindow, false)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			if ok {
				sent++
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	if sent != 1 {
		t.Fatalf("%d of 50 concurrent claims sent, want 1", sent)
	}
	if ok, _, _ := c.Claim(ctx, "app-1", now, DefaultWindow, false); !ok {
		t.Error("another key's first claim must send")
	}
	if ok, n, _ := c.Claim(ctx, "app-0", now.Add(time.Minute), DefaultWindow, true); !ok || n != 49 {
		t.Errorf("a rotation's claim inside the window: send %v with %d suppressed, want true and 49", ok, n)
	}
	if ok, _, _ := c.Claim(ctx, "app-0", now.Add(2*time.Minute), DefaultWindow, false); ok {
		t.Error("the rotation's claim starts a new window: the next claim inside it must not send")
	}
	if err := c.Release(ctx, "app-0", 5); err != nil {
		t.Fatal(err)
	}
	if ok, n, _ := c.Claim(ctx, "app-0", now.Add(3*time.Minute), DefaultWindow, false); !ok || n != 6 {
		t.Errorf("after a release: send %v with %d suppressed, want true and 6 (5 released + 1 suppressed)", ok, n)
	}
}
