package lambdaevent

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzScanMatchesUnmarshal: for any input encoding/json reads as an object
// with a "Records" array, Scan yields the same records (Raw equal to the
// array's elements), and never a record for input it cannot read.
func FuzzScanMatchesUnmarshal(f *testing.F) {
	for _, s := range []string{
		`{"Records":[{"messageId":"a","body":"x"},{"Sns":{"MessageId":"s","Message":"m"}}]}`,
		`{"Records":[7, "x", null, {"body":5}], "source":"aws.events"}`,
		`{"records":[] ,"Records":[{}]}`,
		`null`, `[]`, `{"Records":null}`, `{"Records":{}}`, `{"Records":[{]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var want struct {
			Records []json.RawMessage `json:"Records"`
		}
		wantErr := json.Unmarshal(data, &want)
		var inv Invocation
		var got []json.RawMessage
		fatal := false
		for r := range Scan(data, &inv) {
			if r == nil {
				fatal = true
				continue
			}
			if fatal {
				t.Fatal("a record after a fatal error")
			}
			got = append(got, bytes.Clone(r.Raw))
		}
		if !json.Valid(data) {
			if len(got) > 0 {
				t.Fatalf("records yielded for invalid JSON %q", data)
			}
			return
		}
		if wantErr != nil {
			return // a top level or "Records" of another shape: Scan may differ in what it reports
		}
		// With several "Records" keys encoding/json keeps the last; Scan
		// streams every one. Compare only inputs with one.
		if bytes.Count(bytes.ToLower(data), []byte(`"records"`)) > 1 {
			return
		}
		if len(got) != len(want.Records) {
			t.Fatalf("%d records, encoding/json reads %d, from %q", len(got), len(want.Records), data)
		}
		for i := range got {
			if !bytes.Equal(bytes.TrimSpace(got[i]), bytes.TrimSpace(want.Records[i])) {
				t.Fatalf("record %d: Raw %q, want %q", i, got[i], want.Records[i])
			}
		}
	})
}
