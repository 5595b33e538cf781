package ruleset

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// slowDecode is Decode without the fast path.
func slowDecode(data []byte, source string) []Decoded {
	return decodeAt(data, source, hints{}, 0, nil)
}

// plainDecoded is a Decoded with its error as text, for comparison.
type plainDecoded struct {
	Source  string
	Failure *Failure
	Err     string
	Note    string
}

func plain(ds []Decoded) []plainDecoded {
	out := make([]plainDecoded, len(ds))
	for i, d := range ds {
		out[i] = plainDecoded{Source: d.Source, Failure: d.Failure, Note: d.Note}
		if d.Err != nil {
			out[i].Err = d.Err.Error()
		}
	}
	return out
}

// checkFast runs the fast path on data; if it answers, its answer must be
// the slow path's. It reports whether the fast path answered.
func checkFast(t testing.TB, name string, data []byte) bool {
	t.Helper()
	fast, ok := fastDecode(data, name)
	if !ok {
		return false
	}
	slow := slowDecode(data, name)
	if f, s := plain(fast), plain(slow); !reflect.DeepEqual(f, s) {
		fj, _ := json.MarshalIndent(f, "", " ")
		sj, _ := json.MarshalIndent(s, "", " ")
		t.Fatalf("%s: fast path differs from slow path\ninput: %q\nfast: %s\nslow: %s", name, data, fj, sj)
	}
	return true
}

// corpusInputs is every input file of testdata/corpus and ../../events.
func corpusInputs(t testing.TB) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, root := range []string{filepath.Join("testdata", "corpus"), filepath.Join("..", "..", "events")} {
		err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || strings.HasSuffix(path, ".expect") {
				return err
			}
			data, err := os.ReadFile(path)
			out[path] = data
			return err
		})
		if err != nil {
			t.Fatalf("walk %s: %v", root, err)
		}
	}
	if len(out) < 50 {
		t.Fatalf("only %d corpus inputs", len(out))
	}
	return out
}

func isSESRecord(data []byte) bool {
	var probe struct {
		EventType        string `json:"eventType"`
		NotificationType string `json:"notificationType"`
	}
	return json.Unmarshal(data, &probe) == nil && (probe.EventType != "" || probe.NotificationType != "")
}

// lambdaSNS wraps msg in a Lambda SNS event of n records, as aws-lambda-go
// marshals it (which escapes <, > and & as \u sequences) or, with
// plainHTML, as SNS itself does.
func lambdaSNS(t testing.TB, msg []byte, n int, plainHTML bool) []byte {
	t.Helper()
	var ev events.SNSEvent
	for range n {
		ev.Records = append(ev.Records, events.SNSEventRecord{
			EventSource: "aws:sns", EventVersion: "1.0",
			EventSubscriptionArn: "arn:aws:sns:eu-west-1:123456789012:ses-events:2bcfbf39",
			SNS: events.SNSEntity{Type: "Notification", MessageID: "b4a0e3b8-6f1c-4a53-9c3e-1f2d3c4b5a69",
				TopicArn: "arn:aws:sns:eu-west-1:123456789012:ses-events", Message: string(msg),
				Timestamp: time.Date(2024, 5, 14, 9, 12, 4, 21e6, time.UTC), SignatureVersion: "1", Signature: "EXAMPLE"},
		})
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(!plainHTML)
	if err := enc.Encode(ev); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// sqsOfSNS wraps msg in an SNS envelope in the body of an SQS event.
func sqsOfSNS(t testing.TB, msg []byte, region string) []byte {
	t.Helper()
	env, err := json.Marshal(map[string]any{
		"Type": "Notification", "MessageId": "7a1d9c3e-0000-4000-8000-000000000004",
		"TopicArn": "arn:aws:sns:us-east-1:123456789012:ses-events", "Message": string(msg),
		"Timestamp": "2025-03-14T09:26:53.000Z", "SignatureVersion": "1", "Signature": "EXAMPLE",
		"SigningCertURL": "https://sns.us-east-1.amazonaws.com/x.pem", "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?x",
	})
	if err != nil {
		t.Fatal(err)
	}
	return sqsOf(t, env, region)
}

func sqsOf(t testing.TB, body []byte, region string) []byte {
	t.Helper()
	data, err := json.Marshal(events.SQSEvent{Records: []events.SQSMessage{{
		MessageId: "0f6c8e2a-1111-4000-8000-000000000004", ReceiptHandle: "AQEBEXAMPLE==", Body: string(body),
		Attributes:  map[string]string{"ApproximateReceiveCount": "1"},
		EventSource: "aws:sqs", EventSourceARN: "arn:aws:sqs:us-east-1:123456789012:q", AWSRegion: region,
	}}})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestFastDecodeMatchesSlowOnCorpus holds the fast path to the slow path on
// every corpus input, bare and wrapped, and checks that it is actually
// taken for SES records in SNS and SQS events.
func TestFastDecodeMatchesSlowOnCorpus(t *testing.T) {
	var sesRecords, snsTaken, snsPlainTaken, sqsTaken, sqsRawTaken, bareTaken int
	var sesEvents, sesEventsTaken int // corpus files that are SNS/SQS events of SES records
	for name, data := range corpusInputs(t) {
		taken := checkFast(t, name, data)
		if carriesSESRecords(data) {
			sesEvents++
			if taken {
				sesEventsTaken++
			}
		}
		checkFast(t, name+" (2 SNS records)", lambdaSNS(t, data, 2, false))
		ses := isSESRecord(data)
		took := [...]bool{
			checkFast(t, name+" (SNS)", lambdaSNS(t, data, 1, false)),
			checkFast(t, name+" (SNS, plain)", lambdaSNS(t, data, 1, true)),
			checkFast(t, name+" (SQS of SNS)", sqsOfSNS(t, data, "ap-southeast-2")),
			checkFast(t, name+" (SQS of SNS, no region)", sqsOfSNS(t, data, "")),
			checkFast(t, name+" (SQS raw)", sqsOf(t, data, "us-west-2")),
		}
		if !ses {
			continue
		}
		sesRecords++
		for i, n := range []*int{&snsTaken, &snsPlainTaken, &sqsTaken, &sqsTaken, &sqsRawTaken} {
			if took[i] {
				(*n)++
			}
		}
		if checkFast(t, name+" (bare)", data) {
			bareTaken++
		}
	}
	t.Logf("bare SES records %d; fast path taken: SNS %d, SNS plain %d, SQS of SNS %d/2, SQS raw %d, bare %d; SNS/SQS events of SES records %d, taken %d",
		sesRecords, snsTaken, snsPlainTaken, sqsTaken, sqsRawTaken, bareTaken, sesEvents, sesEventsTaken)
	if sesRecords < 40 || sesEvents < 40 {
		t.Fatalf("only %d bare SES records and %d SNS/SQS events of them in the corpus", sesRecords, sesEvents)
	}
	for what, n := range map[string][2]int{
		"wrapped in SNS": {snsTaken, sesRecords}, "wrapped in SNS (plain)": {snsPlainTaken, sesRecords},
		"wrapped in SQS of SNS": {sqsTaken / 2, sesRecords}, "wrapped in SQS": {sqsRawTaken, sesRecords},
		"bare": {bareTaken, sesRecords}, "in the corpus's SNS/SQS events": {sesEventsTaken, sesEvents},
	} {
		if n[0]*10 < n[1]*9 {
			t.Errorf("fast path taken for %d of %d SES records %s; want at least 90%%", n[0], n[1], what)
		}
	}
}

// carriesSESRecords reports whether data is an SNS or SQS event whose
// records the slow path decodes as SES records.
func carriesSESRecords(data []byte) bool {
	var probe struct {
		Records []json.RawMessage `json:"Records"`
	}
	if json.Unmarshal(data, &probe) != nil || len(probe.Records) == 0 {
		return false
	}
	for _, d := range slowDecode(data, "probe") {
		if d.Failure == nil || d.Failure.EventType == "" {
			return false
		}
	}
	return true
}

type edgeCase struct {
	name string
	in   string
	fast bool // whether the fast path takes it
}

// edgeCases are inputs at the edges of what the fast path takes.
func edgeCases(t testing.TB) []edgeCase {
	const mail = `"mail":{"source":"a@example.com","sourceArn":"arn:aws:ses:us-east-1:1:identity/example.com","destination":["b@example.org"]}`
	bounce := func(extra string) string {
		return `{"eventType":"Bounce","bounce":{"bounceType":"Permanent","bouncedRecipients":[{"emailAddress":"b@example.org","diagnosticCode":"smtp; 550 5.1.1 no"}]` + extra + `},` + mail + `}`
	}
	sns := func(msg string) string {
		m, _ := json.Marshal(msg)
		return `{"Records":[{"EventSource":"aws:sns","Sns":{"Type":"Notification","TopicArn":"arn:aws:sns:eu-west-1:1:t","Message":` + string(m) + `}}]}`
	}
	env := func(msg string) string {
		m, _ := json.Marshal(msg)
		return `{"Type":"Notification","MessageId":"m-1","TopicArn":"arn:aws:sns:ca-central-1:1:t","Message":` + string(m) + `}`
	}
	return []edgeCase{
		{"bare bounce", bounce(""), true},
		{"SNS bounce", sns(bounce("")), true},
		{"null string field", bounce(`,"bounceSubType":null,"feedbackId":null`), true},
		{"null complaintSubType", `{"notificationType":"Complaint","complaint":{"complainedRecipients":[{"emailAddress":"x@example.org"}],"complaintSubType":null,"complaintFeedbackType":"abuse"},` + mail + `}`, true},
		{"null mail", `{"eventType":"Reject","reject":{"reason":"Bad content"},"mail":null}`, true},
		{"null bounce", `{"eventType":"Bounce","bounce":null}`, true},
		{"empty destination", `{"eventType":"Reject","reject":{},"mail":{"destination":[]}}`, true},
		{"null destination element", `{"eventType":"Reject","mail":{"destination":[null,"a@b.c"]}}`, true},
		{"null recipient", `{"eventType":"Bounce","bounce":{"bouncedRecipients":[null]}}`, true},
		{"unicode escapes", `{"eventType":"Reject","reject":{"reason":"\u003cx\u003e \u00e9 \ud83d\ude00 \ud800 \udc00x \ud800\u0041 \u0000"}}`, true},
		{"escapes", `{"eventType":"Reject","reject":{"reason":"a\"b\\c\/d\be\ff\ng\rh\ti"}}`, true},
		{"escaped key", `{"\u0065ventType":"Reject","reject":{"reason":"x"}}`, true},
		{"tags last wins", `{"eventType":"Reject","mail":{"tags":{"ses:configuration-set":["a"],"ses:configuration-set":["b"]}}}`, true},
		{"tags null", `{"eventType":"Reject","mail":{"tags":{"ses:configuration-set":null}}}`, true},
		{"skipped values", `{"eventType":"Send","x":[1,-0.5e+3,true,false,null,{"a":[]},"s"],"send":{}}`, true},
		{"delivery", `{"eventType":"Delivery","delivery":{"timestamp":"t","recipients":["a@b.c"]}}`, true},
		{"SQS eventSource", string(sqsOfSNS(t, []byte(bounce("")), "us-west-2")), true},
		{"bare SNS envelope", env(bounce("")), true},
		{"SNS envelope in SNS message", sns(env(bounce(""))), true},
		{"surrounding whitespace", " \n\t" + bounce("") + "\r\n ", true},

		{"key differs in case", `{"eventType":"Bounce","Bounce":{"bounceType":"Transient"}}`, false},
		{"nested key differs in case", `{"eventType":"Reject","mail":{"Source":"x@y.z"}}`, false},
		{"Kelvin sign key", "{\"eventType\":\"Reject\",\"mail\":{\"sendingAccountId\":\"1\",\"\u212Aey\":1}}", false},
		{"duplicate field", `{"eventType":"Bounce","eventType":"Complaint","complaint":{}}`, false},
		{"duplicate object", `{"eventType":"Bounce","bounce":{"bounceType":"Permanent"},"bounce":{"bounceSubType":"General"}}`, false},
		{"wrong type", `{"eventType":"Reject","mail":{"timestamp":5}}`, false},
		{"wrong type in array", `{"eventType":"Reject","mail":{"destination":[1]}}`, false},
		{"from as string", `{"eventType":"Reject","mail":{"commonHeaders":{"from":"a@b.c"}}}`, false},
		{"envelope key", `{"eventType":"Reject","error":"x"}`, false},
		{"region key", `{"eventType":"Reject","region":"us-east-1"}`, false},
		{"Records and SES", `{"Records":[],"eventType":"Reject"}`, false},
		{"empty Records", `{"Records":[]}`, false},
		{"null Records", `{"Records":null}`, false},
		{"null Message", `{"Records":[{"Sns":{"Type":"Notification","Message":null}}]}`, false},
		{"subscription confirmation", `{"Type":"SubscriptionConfirmation","TopicArn":"arn:aws:sns:eu-west-1:1:t","Message":"x","SubscribeURL":"https://x"}`, false},
		{"no type", `{"mail":{"source":"a@b.c"}}`, false},
		{"trailing data", bounce("") + "x", false},
		{"trailing object", bounce("") + "{}", false},
		{"invalid UTF-8", "{\"eventType\":\"Reject\",\"reject\":{\"reason\":\"\xff\"}}", false},
		{"control character", "{\"eventType\":\"Reject\",\"reject\":{\"reason\":\"a\tb\"}}", false},
		{"bad escape", `{"eventType":"Reject","reject":{"reason":"\x"}}`, false},
		{"bad number", `{"eventType":"Send","x":01}`, false},
		{"leading no-break space", "\u00a0" + bounce(""), false},
		{"deep nesting", `{"eventType":"Send","x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`, false},
		{"truncated", bounce("")[:40], false},
		{"message not SES", sns(`{"error":"MessageRejected: Email address is not verified."}`), false},
		{"message text", sns(`Email address is not verified. in region us-east-1`), false},
	}
}

// TestFastDecodeEdges pins what the fast path takes and what it leaves to
// encoding/json; taken or not, it must never differ.
func TestFastDecodeEdges(t *testing.T) {
	for _, c := range edgeCases(t) {
		t.Run(c.name, func(t *testing.T) {
			if got := checkFast(t, c.name, []byte(c.in)); got != c.fast {
				t.Fatalf("fast path taken = %v, want %v; slow path: %+v", got, c.fast, plain(slowDecode([]byte(c.in), c.name)))
			}
		})
	}
}

// TestDecodeUsesFastPath checks the hook: Decode's result for a common
// input is the fast path's, and the slow path still runs for the rest.
func TestDecodeUsesFastPath(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "events", "triage-sns-hard-bounce.json"))
	if err != nil {
		t.Fatal(err)
	}
	fast, ok := fastDecode(data, "input")
	if !ok {
		t.Fatal("fast path not taken for events/triage-sns-hard-bounce.json")
	}
	if got := Decode(data, ""); !reflect.DeepEqual(plain(got), plain(fast)) {
		t.Fatalf("Decode = %+v, want the fast path's %+v", plain(got), plain(fast))
	}
	if got := Decode([]byte(`{"error":"Throttling: Maximum sending rate exceeded."}`), ""); len(got) != 1 || got[0].Failure == nil || got[0].Failure.Kind != KindSendError {
		t.Fatalf("failure envelope: %+v", plain(got))
	}
}

// FuzzFastDecodeMatchesSlow: whenever the fast path answers, its answer is
// the slow path's. Seeded from the corpus, bare and wrapped, and from
// testdata/fuzz/FuzzFastDecodeMatchesSlow.
func FuzzFastDecodeMatchesSlow(f *testing.F) {
	for _, data := range corpusInputs(f) {
		f.Add(data)
		if isSESRecord(data) {
			f.Add(lambdaSNS(f, data, 1, true))
			f.Add(sqsOfSNS(f, data, "us-west-2"))
		}
	}
	for _, c := range edgeCases(f) {
		f.Add([]byte(c.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkFast(t, "fuzz", data)
	})
}

// BenchmarkDecodeFast is Decode alone on BenchmarkClassify's payloads: the
// fast path's share of a classification (BenchmarkDecodeOnly is the
// encoding/json baseline).
func BenchmarkDecodeFast(b *testing.B) {
	var payloads [][]byte
	for _, data := range corpusInputs(b) {
		if isSESRecord(data) {
			payloads = append(payloads, lambdaSNS(b, data, 1, false))
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if d := Decode(payloads[i%len(payloads)], "bench"); d[0].Failure == nil {
			b.Fatal(d[0].Err)
		}
	}
}

// jsonKeys returns the keys json.Unmarshal fills in a value of type t (the
// fields of embedded structs without a tag included), sorted.
func jsonKeys(t reflect.Type) []string {
	var keys []string
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if f.Anonymous && tag == "" {
			keys = append(keys, jsonKeys(f.Type)...)
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		switch {
		case name == "-" || !f.IsExported():
			continue
		case name == "":
			name = f.Name
		}
		keys = append(keys, name)
	}
	slices.Sort(keys)
	return keys
}

// fieldByKey returns the field of t that JSON key fills.
func fieldByKey(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if name, _, _ := strings.Cut(f.Tag.Get("json"), ","); name == key || name == "" && f.Name == key {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// TestFastKeyTablesMatchStructTags: each key table of the fast scanner
// lists exactly the JSON keys of the struct it mirrors (the slow path's),
// so that no key is read under a wrong name (a misspelt one is never
// read) and no key that json.Unmarshal would fill goes unchecked.
func TestFastKeyTablesMatchStructTags(t *testing.T) {
	for _, c := range fastKeyTables() {
		got := slices.Sorted(slices.Values(c.names))
		if want := jsonKeys(c.mirrors); !slices.Equal(got, want) {
			t.Errorf("%s: the fast scanner's keys\n %q\nthe json tags of %s\n %q", c.table, got, c.mirrors, want)
		}
		if len(slices.Compact(got)) != len(c.names) {
			t.Errorf("%s: a key is listed twice: %q", c.table, c.names)
		}
		// A key the scanner does not read is validated as a string (or
		// null): that is right only for a string field.
		for _, k := range c.unread {
			if f, ok := fieldByKey(c.mirrors, k); ok && f.Type.Kind() != reflect.String {
				t.Errorf("%s: %q is only validated as a string, but %s.%s is a %s", c.table, k, c.mirrors, f.Name, f.Type)
			}
		}
	}
}

type keyTable struct {
	table   string
	names   []string
	mirrors reflect.Type
	// unread are the keys whose values are only validated as strings.
	unread []string
}

func fieldsTable[T any](name string, t *fields[T]) keyTable {
	kt := keyTable{table: name, names: t.names, mirrors: reflect.TypeFor[T]()}
	for i, read := range t.reads {
		if read == nil {
			kt.unread = append(kt.unread, t.names[i])
		}
	}
	return kt
}

func fastKeyTables() []keyTable {
	return []keyTable{
		{table: "wireNames", names: wireNames, mirrors: reflect.TypeFor[wire]()},
		{table: "recordNames", names: recordNames, mirrors: reflect.TypeFor[wireRecord]()},
		{table: "snsNames", names: snsNames, mirrors: reflect.TypeFor[wireSNS]()},
		fieldsTable("mailFields", mailFields),
		fieldsTable("commonHeaderFields", commonHeaderFields),
		fieldsTable("bounceFields", bounceFields),
		fieldsTable("recipientFields", recipientFields),
		fieldsTable("complaintFields", complaintFields),
		fieldsTable("addressFields", addressFields),
		fieldsTable("deliveryFields", deliveryFields),
		fieldsTable("rejectFields", rejectFields),
		fieldsTable("renderingFields", renderingFields),
		fieldsTable("delayFields", delayFields),
	}
}
