package envvar

import "testing"

func TestFormat(t *testing.T) {
	if got, want := Bad("EVALUATION_WINDOW", "5m", "want a duration between 1h and 336h").Error(), `EVALUATION_WINDOW="5m": want a duration between 1h and 336h`; got != want {
		t.Errorf("Bad = %q, want %q", got, want)
	}
	if got, want := BadHidden("SLACK_WEBHOOK_SECRET", "want the secret's name or ARN").Error(), "SLACK_WEBHOOK_SECRET: want the secret's name or ARN (value not shown)"; got != want {
		t.Errorf("BadHidden = %q, want %q", got, want)
	}
}
