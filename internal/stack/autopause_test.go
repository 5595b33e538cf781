package stack_test

import (
	"slices"
	"testing"

	"github.com/sesguard/sesguard/internal/bouncewatch"
	"github.com/sesguard/sesguard/internal/stack"
)

// TestAutoPauseAgrees is the pause path's self-test over the template (the
// one public auto-pause found stopped firing after a rename nobody
// followed): the AutoPause parameter offers exactly bouncewatch's modes
// and defaults to off; the function reads it; the pause permission is
// granted exactly when AutoPause is on, only on the configuration set
// bouncewatch watches (the same ARN it may read); and the template never
// sets that configuration set's sending flag, so a redeploy cannot resume
// sending a pause stopped.
func TestAutoPauseAgrees(t *testing.T) {
	p, ok := loadTemplate(t).Parameters["AutoPause"]
	if !ok {
		t.Fatal("no AutoPause parameter")
	}
	var modes []string
	for _, m := range bouncewatch.AutoPauseModes {
		modes = append(modes, string(m))
	}
	var allowed []string
	for _, v := range p.AllowedValues {
		s, _ := v.(string)
		allowed = append(allowed, s)
	}
	if !slices.Equal(allowed, modes) || p.Default != string(bouncewatch.AutoPauseOff) {
		t.Fatalf("AutoPause AllowedValues %v default %v, want %v default off", allowed, p.Default, modes)
	}
	csARN := map[string]any{"Fn::Sub": "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:configuration-set/${ConfigurationSetName}"}
	forEachParamSet(t, func(t *testing.T, tpl *stack.Template) {
		fn := props(t, tpl, "BouncewatchFunction")
		if v, _ := stack.Get(fn, "Environment", "Variables", bouncewatch.EnvAutoPause); !equalJSON(v, ref("AutoPause")) {
			t.Errorf("%s = %v, want Ref AutoPause", bouncewatch.EnvAutoPause, v)
		}
		if v, _ := stack.Get(fn, "Environment", "Variables", bouncewatch.EnvWatchScopes); !equalJSON(v, map[string]any{"Fn::Sub": "configuration-set:${ConfigurationSetName}"}) {
			t.Errorf("%s = %v: the paused set must be the watched one", bouncewatch.EnvWatchScopes, v)
		}
		role, _ := stack.Get(fn, "Role", "Fn::GetAtt")
		roleID := role.([]any)[0].(string)
		var pause, read []any
		for _, st := range roleStatements(t, tpl, roleID) {
			if slices.Contains(st.Actions, bouncewatch.PauseAction) {
				if len(st.Actions) != 1 || st.Condition != nil {
					t.Errorf("statement %q: the pause action shares its statement (%v) or has a condition", st.Sid, st.Actions)
				}
				pause = append(pause, st.Resources...)
			}
			if slices.Contains(st.Actions, "ses:GetConfigurationSet") {
				read = append(read, st.Resources...)
			}
		}
		on := tpl.Values["AutoPause"] == string(bouncewatch.AutoPauseOn)
		switch {
		case on && (len(pause) != 1 || !equalJSON(pause[0], csARN)):
			t.Errorf("AutoPause=on: %s granted on %v, want only %v", bouncewatch.PauseAction, pause, csARN)
		case !on && len(pause) > 0:
			t.Errorf("AutoPause=%q: %s granted on %v", tpl.Values["AutoPause"], bouncewatch.PauseAction, pause)
		}
		if len(read) != 1 || !equalJSON(read[0], csARN) {
			t.Errorf("ses:GetConfigurationSet granted on %v, want only %v", read, csARN)
		}
		for _, id := range tpl.OfType("AWS::SES::ConfigurationSet") {
			if _, owns := tpl.Resources[id].Properties["SendingOptions"]; owns {
				t.Errorf("%s sets SendingOptions: a redeploy would undo a pause", id)
			}
		}
	})
}
