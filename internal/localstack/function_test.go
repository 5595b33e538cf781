package localstack

import "testing"

// The emulator answers a function error with HTTP 200 and no
// X-Amz-Function-Error header; the body has to tell it from a response.
func TestIsErrorResponse(t *testing.T) {
	for _, c := range []struct {
		body string
		want bool
	}{
		{`{"errorMessage":"boom","errorType":"errorString"}`, true},
		{`{"errorMessage":"boom","errorType":"errorString","stackTrace":[]}`, true},
		{`Task timed out after 3.00 seconds`, true},
		{`{"batchItemFailures":[]}`, false},
		{`{"errorType":"x","batchItemFailures":[]}`, false}, // a response that happens to have the key
		{`"hello"`, false},
		{`null`, false},
		{``, false},
	} {
		if got := isErrorResponse([]byte(c.body)); got != c.want {
			t.Errorf("isErrorResponse(%q) = %v, want %v", c.body, got, c.want)
		}
	}
}

func TestInvokeRefusesOversizedEvent(t *testing.T) {
	fn := &Function{Name: "f", url: "http://127.0.0.1:1/unused"}
	_, err := fn.Invoke(t.Context(), make([]byte, MaxPayload+1))
	if err == nil {
		t.Fatal("Invoke of a 6 MiB + 1 byte event: no error, want Lambda's payload limit")
	}
}
