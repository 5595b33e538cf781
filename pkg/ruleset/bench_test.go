package ruleset_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/sesguard/sesguard/pkg/ruleset"
)

// benchPayloads is a realistic mix: Lambda SNS events wrapping SES
// event-publishing records from the corpus (bounces mostly, as in
// production, plus complaints, delays and rejects).
func benchPayloads(b *testing.B) [][]byte {
	b.Helper()
	var out [][]byte
	root := filepath.Join("testdata", "corpus")
	_ = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".json") || strings.HasSuffix(path, ".facts.json") {
			return nil
		}
		dir := filepath.Base(filepath.Dir(path))
		if !strings.HasPrefix(dir, "bounce.") && !strings.HasPrefix(dir, "complaint.") && !strings.HasPrefix(dir, "delay.") {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		var probe struct {
			EventType        string `json:"eventType"`
			NotificationType string `json:"notificationType"`
		}
		if json.Unmarshal(data, &probe) != nil || (probe.EventType == "" && probe.NotificationType == "") {
			return nil // only bare SES records; wrapped below the same way for both benchmarks
		}
		// SES publishes compact JSON; the corpus files are indented for
		// people to read.
		var compact bytes.Buffer
		if err := json.Compact(&compact, data); err != nil {
			return nil
		}
		out = append(out, wrapSNS(compact.Bytes()))
		return nil
	})
	if len(out) < 10 {
		b.Fatalf("only %d bench payloads", len(out))
	}
	return out
}

func wrapSNS(ses []byte) []byte {
	ev := events.SNSEvent{Records: []events.SNSEventRecord{{
		EventSource: "aws:sns", EventVersion: "1.0",
		SNS: events.SNSEntity{Type: "Notification", MessageID: "b4a0e3b8-6f1c-4a53-9c3e-1f2d3c4b5a69",
			TopicArn: "arn:aws:sns:us-east-1:123456789012:ses-events", Message: string(ses)},
	}}}
	data, _ := json.Marshal(ev)
	return data
}

// BenchmarkDecodeOnly is the baseline: what any consumer must do anyway —
// unmarshal the aws-lambda-go SNS event, then the SES record inside it.
func BenchmarkDecodeOnly(b *testing.B) {
	payloads := benchPayloads(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var ev events.SNSEvent
		if err := json.Unmarshal(payloads[i%len(payloads)], &ev); err != nil {
			b.Fatal(err)
		}
		for _, r := range ev.Records {
			var rec ruleset.SESEvent
			if err := json.Unmarshal([]byte(r.SNS.Message), &rec); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkDecode is sesguard's own decoder (the one ClassifyBytes runs)
// on the same payloads: with BenchmarkClassify, what classifying adds to
// the decoding it needs. BenchmarkDecodeOnly stays the baseline the issue
// defines (encoding/json), which this decoder beats.
func BenchmarkDecode(b *testing.B) {
	payloads := benchPayloads(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if d := ruleset.Decode(payloads[i%len(payloads)], "bench"); len(d) == 0 || d[0].Err != nil {
			b.Fatal("not decoded")
		}
	}
}

// BenchmarkClassify is decode + classify + rendered diagnoses.
func BenchmarkClassify(b *testing.B) {
	payloads := benchPayloads(b)
	set := ruleset.Default()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d := set.ClassifyBytes(payloads[i%len(payloads)], nil, "bench")
		if len(d) == 0 {
			b.Fatal("no diagnosis")
		}
	}
}

// BenchmarkClassifyDecoded is the rule engine alone, on failures decoded
// beforehand: what classification adds on top of any decoding.
func BenchmarkClassifyDecoded(b *testing.B) {
	payloads := benchPayloads(b)
	set := ruleset.Default()
	var decoded []ruleset.Decoded
	for _, p := range payloads {
		decoded = append(decoded, ruleset.Decode(p, "bench")...)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if d := set.ClassifyDecoded(decoded[i%len(decoded)], nil); len(d) == 0 {
			b.Fatal("no diagnosis")
		}
	}
}

// BenchmarkNew is the rule set's share of a cold start: what Default costs
// a fresh process (the embedded rules come from the generated snapshot).
func BenchmarkNew(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := ruleset.New(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNewFromYAML is the same rules parsed and validated from the
// YAML: what an operator's extra rules file costs per byte, and what New
// would cost without the snapshot.
func BenchmarkNewFromYAML(b *testing.B) {
	names, err := filepath.Glob(filepath.Join("rules", "*.yaml"))
	if err != nil || len(names) == 0 {
		b.Fatalf("rules files: %v %v", names, err)
	}
	var files []ruleset.RuleFile
	for _, n := range names {
		data, err := os.ReadFile(n)
		if err != nil {
			b.Fatal(err)
		}
		files = append(files, ruleset.RuleFile{Name: n, Data: data})
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := ruleset.Compile(files...); err != nil {
			b.Fatal(err)
		}
	}
}
