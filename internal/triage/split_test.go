package triage

import (
	"fmt"
	"slices"
	"testing"
)

func TestSplitRecords(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		sqs      bool
		want     []string // source, then data
	}{
		{"sqs", `{"Records":[{"messageId":"a","eventSource":"aws:sqs","body":"x"},{"messageId":"b","body":"y"}]}`, true,
			[]string{`sqs:a {"Records":[{"messageId":"a","eventSource":"aws:sqs","body":"x"}]}`, `sqs:b {"Records":[{"messageId":"b","body":"y"}]}`}},
		{"sns", `{"Records":[ {"EventSource":"aws:sns","Sns":{"MessageId":"s","Message":"m"}} ]}`, false,
			[]string{`sns:s {"Records":[{"EventSource":"aws:sns","Sns":{"MessageId":"s","Message":"m"}}]}`}},
		{"wrong shapes keep what was read", `{"Records":[7,{"messageId":"c","eventSource":"aws:sqs","body":5}]}`, true,
			[]string{`record 0 {"Records":[7]}`, `sqs:c {"Records":[{"messageId":"c","eventSource":"aws:sqs","body":5}]}`}},
		{"direct input", `{"error":"MessageRejected"}`, false, []string{`invocation {"error":"MessageRejected"}`}},
		{"text", `Email address is not verified`, false, []string{`invocation Email address is not verified`}},
		{"empty records", `{"Records":[]}`, false, []string{`invocation {"Records":[]}`}},
		{"records not a list", `{"Records":"x"}`, false, []string{`invocation {"Records":"x"}`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recs, sqs := splitRecords([]byte(tc.in))
			var got []string
			for _, r := range recs {
				got = append(got, fmt.Sprintf("%s %s", r.source, r.data))
			}
			if sqs != tc.sqs || !slices.Equal(got, tc.want) {
				t.Errorf("got %q (SQS %v), want %q (SQS %v)", got, sqs, tc.want, tc.sqs)
			}
		})
	}
}
