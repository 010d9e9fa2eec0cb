package reaction

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// AlertClaims decides which alerts go out: at most one per key (a target's
// name, or UnmatchedAlertKey for the summary of unmatched and refused
// reports) per window, except that a rotation the reactor just made always
// alerts and starts a new window. Suppressed alerts are counted and the
// count is handed to the next alert sent for the key.
type AlertClaims interface {
	// Claim reports whether to send the alert for key now, and how many
	// were suppressed since the last one sent. An error means the claim
	// could not be decided (worth a retry).
	Claim(ctx context.Context, key string, now time.Time, window time.Duration, rotated bool) (send bool, suppressed int, err error)
	// Release undoes a claim whose alert could not be sent, so the retry
	// sends it with the count intact.
	Release(ctx context.Context, key string, suppressed int) error
}

// MemoryClaims keeps the claims in this process's memory: exact for one
// process, per execution environment in Lambda. The deployed reactor uses
// TableClaims.
type MemoryClaims struct {
	mu     sync.Mutex
	alerts map[string]*alertState
}

type alertState struct {
	last       time.Time
	suppressed int
}

// Claim implements AlertClaims.
func (m *MemoryClaims) Claim(_ context.Context, key string, now time.Time, window time.Duration, rotated bool) (bool, int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.alerts == nil {
		m.alerts = map[string]*alertState{}
	}
	st := m.alerts[key]
	if st == nil {
		st = &alertState{}
		m.alerts[key] = st
	}
	if !rotated && !st.last.IsZero() && now.Sub(st.last) < window {
		st.suppressed++
		return false, 0, nil
	}
	n := st.suppressed
	st.last, st.suppressed = now, 0
	return true, n, nil
}

// Release implements AlertClaims.
func (m *MemoryClaims) Release(_ context.Context, key string, suppressed int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if st := m.alerts[key]; st != nil {
		st.last, st.suppressed = time.Time{}, st.suppressed+suppressed
	}
	return nil
}

// DynamoDB is the narrowest DynamoDB surface TableClaims needs.
type DynamoDB interface {
	UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

// Attributes of a claim item in the alert table; the stack creates the
// table with TableKey as its partition key and TableExpires as its TTL
// attribute.
const (
	TableKey     = "key"
	TableUntil   = "until"
	TableCount   = "suppressed"
	TableExpires = "expires"
)

// TableClaims keeps the claims in one DynamoDB table shared by every
// execution environment of the reactor, so the bounds hold for the whole
// deployment: each claim is one UpdateItem whose ConditionExpression
// (the window has ended, or no claim exists) DynamoDB evaluates
// atomically per item, so of any number of concurrent claims for one key
// exactly one wins
// (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.ConditionExpressions.html).
// A lost claim adds one to the item's suppressed count (ADD, also atomic).
// Items expire through the table's TTL a day after their window.
type TableClaims struct {
	DB    DynamoDB
	Table string
}

func (c TableClaims) keyAttr(key string) map[string]ddbtypes.AttributeValue {
	return map[string]ddbtypes.AttributeValue{TableKey: &ddbtypes.AttributeValueMemberS{Value: key}}
}

func num(n int64) *ddbtypes.AttributeValueMemberN {
	return &ddbtypes.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

// Claim implements AlertClaims.
func (c TableClaims) Claim(ctx context.Context, key string, now time.Time, window time.Duration, rotated bool) (bool, int, error) {
	in := &dynamodb.UpdateItemInput{
		TableName:                aws.String(c.Table),
		Key:                      c.keyAttr(key),
		UpdateExpression:         aws.String("SET #until = :until, #count = :zero, #expires = :expires"),
		ExpressionAttributeNames: map[string]string{"#until": TableUntil, "#count": TableCount, "#expires": TableExpires},
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{
			":until": num(now.Add(window).UnixMilli()), ":zero": num(0), ":expires": num(now.Add(window + 24*time.Hour).Unix()),
		},
		ReturnValues: ddbtypes.ReturnValueAllOld,
	}
	if !rotated {
		in.ConditionExpression = aws.String("attribute_not_exists(#until) OR #until <= :now")
		in.ExpressionAttributeValues[":now"] = num(now.UnixMilli())
	}
	out, err := c.DB.UpdateItem(ctx, in)
	var failed *ddbtypes.ConditionalCheckFailedException
	if errors.As(err, &failed) {
		_, err := c.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: aws.String(c.Table), Key: c.keyAttr(key),
			UpdateExpression:          aws.String("ADD #count :one"),
			ExpressionAttributeNames:  map[string]string{"#count": TableCount},
			ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":one": num(1)},
		})
		if err != nil {
			return false, 0, fmt.Errorf("count a suppressed alert for %s: %w", key, err)
		}
		return false, 0, nil
	}
	if err != nil {
		return false, 0, fmt.Errorf("claim the alert for %s in %s: %w", key, c.Table, err)
	}
	n := 0
	if v, ok := out.Attributes[TableCount].(*ddbtypes.AttributeValueMemberN); ok {
		n, _ = strconv.Atoi(v.Value)
	}
	return true, n, nil
}

// Release implements AlertClaims: the window is reopened and the count
// the failed alert carried is added back.
func (c TableClaims) Release(ctx context.Context, key string, suppressed int) error {
	_, err := c.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(c.Table), Key: c.keyAttr(key),
		UpdateExpression:          aws.String("SET #until = :zero ADD #count :n"),
		ExpressionAttributeNames:  map[string]string{"#until": TableUntil, "#count": TableCount},
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":zero": num(0), ":n": num(int64(suppressed))},
	})
	if err != nil {
		return fmt.Errorf("release the alert claim for %s: %w", key, err)
	}
	return nil
}
