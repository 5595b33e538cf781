package ruleset

import (
	"strings"
	"testing"
)

// TestBadRecordKeepsTheRest: a batch with records of the wrong shape is
// split record by record (lambdaevent.Scan); the good record is decoded
// and each bad one is named.
func TestBadRecordKeepsTheRest(t *testing.T) {
	in := `{"Records":[
		{"EventSource":"aws:sns","Sns":{"Type":"Notification","MessageId":"m0","Message":"Email address is not verified. The following identities failed the check in region US-EAST-1: a@example.com"}},
		{"EventSource":"aws:sns","Sns":5},
		7
	],"source":"x"}`
	out := Decode([]byte(in), "batch")
	if len(out) != 3 {
		t.Fatalf("%d results, want 3: %+v", len(out), out)
	}
	if out[0].Err != nil || out[0].Failure == nil || out[0].Source != "batch#0" {
		t.Errorf("good record: %+v", out[0])
	}
	for i, d := range out[1:] {
		want := "decode record " + string(rune('1'+i))
		if d.Err == nil || !strings.HasPrefix(d.Err.Error(), want) || d.Source != "batch#"+string(rune('1'+i)) {
			t.Errorf("bad record %d: %+v, want an error starting %q", i+1, d, want)
		}
	}
}
