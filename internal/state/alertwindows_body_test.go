package state_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sesguard/sesguard/internal/alert"
	"github.com/sesguard/sesguard/internal/state"
)

// bounceAlert is triage's alert for a hard bounce (internal/triage's
// toAlert for events/triage-sns-hard-bounce.json), at at: a bounce storm's
// alerts differ by recipient, so each count carries its body.
func bounceAlert(at time.Time) alert.Alert {
	conf := 0.9
	return alert.Alert{Kind: alert.KindDiagnosis, Level: alert.LevelWarning, Title: "bounce.hard.no-such-user: recipients at example.com (us-east-1)",
		Rule: "bounce.hard.no-such-user", Identity: "example.com", Region: "us-east-1", Scope: "recipient-domain", Count: 1, Time: at, Source: "sesguard-triage",
		Summary:  "jane.doe@example.com does not exist at its mail provider.",
		Evidence: []string{"recipient: jane.doe@example.com", `text contains "does not exist"`, "enhanced status code 5.1.1", "SES Bounce, bounceType Permanent/General"},
		Fix: []string{"Remove jane.doe@example.com from your lists; suppress it: `aws sesv2 put-suppressed-destination --email-address jane.doe@example.com --reason BOUNCE --region us-east-1`",
			"Validate addresses at sign-up (double opt-in) so typos never reach SES"},
		Figures: []alert.Figure{{Name: "confidence", Value: "0.90", Number: &conf}, {Name: "account facts", Value: "unknown"},
			{Name: "alternatives", Value: "bounce.hard.general (0.35)"}},
	}
}

func windowKey(k string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "win"}, "sk": &types.AttributeValueMemberS{Value: k}}
}

func getWindow(t *testing.T, db *dynamodb.Client, table, k string) map[string]types.AttributeValue {
	t.Helper()
	out, err := db.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(table), Key: windowKey(k), ConsistentRead: aws.Bool(true)})
	if err != nil || out.Item == nil {
		t.Fatalf("window %q: %v, %v", k, out, err)
	}
	return out.Item
}

func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

// putWindow writes a closed window item by hand, as an earlier version or
// a corruption would have left it: held occurrences since first, its
// latest as given (none if nil).
func putWindow(t *testing.T, db *dynamodb.Client, table, k string, held int, first time.Time, latest []byte) {
	t.Helper()
	it := windowKey(k)
	it["opened"], it["gen"], it["held"], it["firstHeld"] = num(t0.UnixMilli()), num(1), num(int64(held)), num(first.UnixMilli())
	it["ttl"] = num(t0.Add(48 * time.Hour).Unix())
	if latest != nil {
		it["latest"] = &types.AttributeValueMemberB{Value: latest}
	}
	if _, err := db.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(table), Item: it}); err != nil {
		t.Fatal(err)
	}
}

// TestWindowItemSize: a window item holding a storm's alert (the bench's
// send failure; a hard bounce) stays under 1 KB by DynamoDB's size rules,
// so that counting into it costs 1 write unit (2 in a transaction); with
// the body as plain JSON it did not.
func TestWindowItemSize(t *testing.T) {
	for name, a := range map[string]alert.Alert{"bench storm": stormAlert(t0), "hard bounce": bounceAlert(t0)} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			db, tbl := recordedTable(t)
			s := environments(t, db, tbl, 1)[0]
			w := s.AlertWindows()
			const window = 15 * time.Minute
			if out, _ := w.Observe(ctx, a, t0, window); len(out) != 1 {
				t.Fatal("first occurrence not announced")
			}
			w.Close(ctx, t0, window, false)
			// A Lambda clock has nanoseconds: the body's time is as long
			// as it gets.
			now := t0.Add(time.Second + 123456789)
			b := &stormBatch{w: w, s: s, db: db}
			b.run(t, a, now, window)

			item := getWindow(t, db.db, tbl, a.Key())
			body, ok := item["latest"].(*types.AttributeValueMemberB)
			if !ok || len(body.Value) == 0 || body.Value[0] == '{' {
				t.Fatalf("window's latest is %#v, want a deflated body", item["latest"])
			}
			size := state.ItemSize(item)
			a.Time = now
			js, _ := json.Marshal(a)
			item["latest"] = &types.AttributeValueMemberB{Value: js}
			plain := state.ItemSize(item)
			var names []string
			for k := range item {
				names = append(names, k)
			}
			slices.Sort(names)
			t.Logf("window item (%s): %d bytes with the body deflated (%d of %d bytes of JSON); %d with it plain",
				strings.Join(names, " "), size, len(body.Value), len(js), plain)
			if size >= 1024 {
				t.Errorf("window item is %d bytes, want under 1 KB (1 write unit an update)", size)
			}
			if plain < 1024 {
				t.Errorf("with the body plain the item is %d bytes: this test no longer shows what deflating saves", plain)
			}
		})
	}
}

// TestWindowBodyInTable: Close announces every window's held-back count
// whatever its body: a deflated one, a plain JSON one written before
// bodies were deflated, or (logged) an unreadable or missing one, then
// from its key; only a count whose key no alert makes is dropped, logged.
func TestWindowBodyInTable(t *testing.T) {
	ctx := context.Background()
	db, tbl := table(t)
	var logs bytes.Buffer
	s, err := state.New(state.Options{DB: db, Table: tbl, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	w := s.AlertWindows()
	const window = 15 * time.Minute
	first, last := t0.Add(time.Second), t0.Add(2*time.Second)

	// Deflated, as this version writes it: counted into an open window.
	storm := stormAlert(t0)
	if out, _ := w.Observe(ctx, storm, t0, window); len(out) != 1 {
		t.Fatal("first occurrence not announced")
	}
	w.Close(ctx, t0, window, false)
	for i, at := range []time.Time{first, last} {
		a := storm
		a.Time = at
		a.Evidence = append([]string{strconv.Itoa(i)}, a.Evidence[1:]...)
		if out, _ := w.Observe(ctx, a, at, window); len(out) != 0 {
			t.Fatalf("occurrence %d in an open window announced", i)
		}
		w.Close(ctx, at, window, false)
	}

	plain := bounceAlert(last)
	js, _ := json.Marshal(plain)
	putWindow(t, db.db, tbl, plain.Key(), 5, first, js)
	garbled := alert.Alert{Kind: alert.KindDiagnosis, Rule: "reject.sandbox", Identity: "a@b.example", Region: "eu-west-1"}
	putWindow(t, db.db, tbl, garbled.Key(), 3, first, []byte("\x7fgarbage"))
	bodiless := alert.Alert{Kind: alert.KindDiagnosis, Rule: "bounce.soft", Region: "us-east-1"}
	putWindow(t, db.db, tbl, bodiless.Key(), 2, first, nil)
	putWindow(t, db.db, tbl, "not an alert key", 7, first, []byte("\x01\x02"))

	out, err := w.Close(ctx, last.Add(window), window, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 4 {
		t.Errorf("%d summaries, want 4 (the count under a key no alert makes dropped): %+v", len(out), out)
	}
	sm := summaryOf(t, out, storm.Key())
	if sm.Count != 2 || !sm.Since.Equal(first) || !sm.Time.Equal(last) || sm.Evidence[0] != "1" || sm.Summary != storm.Summary {
		t.Errorf("deflated: summary %+v, want the latest alert, 2 since %v at %v", sm, first, last)
	}
	sm = summaryOf(t, out, plain.Key())
	if sm.Count != 5 || !sm.Since.Equal(first) || !sm.Time.Equal(last) || sm.Summary != plain.Summary || sm.Fix[0] != plain.Fix[0] {
		t.Errorf("plain JSON: summary %+v, want the stored alert, 5 since %v at %v", sm, first, last)
	}
	for _, c := range []struct {
		a alert.Alert
		n int
	}{{garbled, 3}, {bodiless, 2}} {
		sm = summaryOf(t, out, c.a.Key())
		if sm.Count != c.n || !sm.Since.Equal(first) || sm.Rule != c.a.Rule || sm.Identity != c.a.Identity || sm.Region != c.a.Region || sm.Title == "" {
			t.Errorf("unreadable body: summary %+v, want %d of %s since %v", sm, c.n, c.a.Rule, first)
		}
	}
	log := logs.String()
	for _, want := range []string{"announced from its key", "unknown encoding 0x7f", "window body is empty", "count dropped", "count=7"} {
		if !strings.Contains(log, want) {
			t.Errorf("log does not say %q:\n%s", want, log)
		}
	}
	if strings.Count(log, "storm window summary without its alert") != 3 {
		t.Errorf("want 3 summaries logged without their alert:\n%s", log)
	}
}
