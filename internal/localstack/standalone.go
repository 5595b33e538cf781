package localstack

import (
	"net/http"
	"time"
)

// NewFunction returns a function outside any Stack (`sesguard invoke`, the
// Makefile's invoke targets): id is its logical ID and name, rie the
// Runtime Interface Emulator binary (BuildRIE), env its whole environment
// besides Lambda's own variables. Start it with Function.Start.
func NewFunction(id, rie string, timeout time.Duration, env map[string]string) *Function {
	return &Function{LogicalID: id, Name: id, Env: env, Timeout: timeout, Memory: 256, rie: rie, client: &http.Client{}}
}
