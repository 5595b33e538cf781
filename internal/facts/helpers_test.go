package facts

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/sesguard/sesguard/internal/testkit"
)

// kumoURL is the package's one emulator; tests use their own names
// (domains, topics, queues, namespaces) to stay apart.
var kumoURL string

func TestMain(m *testing.M) { testkit.RunWithKumo(m, &kumoURL) }

// kumoClient is a real SES v2 client talking to the emulator.
func kumoClient(region string) *sesv2.Client { return testkit.SES(kumoURL, region) }

func createIdentities(t *testing.T, ids ...string) {
	testkit.CreateIdentities(t, kumoClient("us-east-1"), ids...)
}

// fakeAPI is API built from functions.
type fakeAPI struct {
	GetAccountFn       func(ctx context.Context) (*sesv2.GetAccountOutput, error)
	GetEmailIdentityFn func(ctx context.Context, identity string) (*sesv2.GetEmailIdentityOutput, error)
}

func (f fakeAPI) GetAccount(ctx context.Context, _ *sesv2.GetAccountInput, _ ...func(*sesv2.Options)) (*sesv2.GetAccountOutput, error) {
	return f.GetAccountFn(ctx)
}

func (f fakeAPI) GetEmailIdentity(ctx context.Context, in *sesv2.GetEmailIdentityInput, _ ...func(*sesv2.Options)) (*sesv2.GetEmailIdentityOutput, error) {
	return f.GetEmailIdentityFn(ctx, aws.ToString(in.EmailIdentity))
}

// counter counts calls per (op, identity, Region) on the way to the real
// client.
type counter struct {
	mu    sync.Mutex
	calls map[string]int
}

func newCounter() *counter { return &counter{calls: map[string]int{}} }

func (c *counter) add(op, identity, region string) {
	c.mu.Lock()
	c.calls[op+" "+identity+" "+region]++
	c.mu.Unlock()
}

func (c *counter) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.calls))
	for k, v := range c.calls {
		out[k] = v
	}
	return out
}

func (c *counter) total() int {
	n := 0
	for _, v := range c.snapshot() {
		n += v
	}
	return n
}

// wrap returns a factory whose clients count their calls in c.
func (c *counter) wrap(inner ClientFactory) ClientFactory {
	return func(region string) API {
		return counted{inner: inner(region), c: c, region: region}
	}
}

type counted struct {
	inner  API
	c      *counter
	region string
}

func (x counted) GetAccount(ctx context.Context, in *sesv2.GetAccountInput, o ...func(*sesv2.Options)) (*sesv2.GetAccountOutput, error) {
	x.c.add("GetAccount", "", x.region)
	return x.inner.GetAccount(ctx, in, o...)
}

func (x counted) GetEmailIdentity(ctx context.Context, in *sesv2.GetEmailIdentityInput, o ...func(*sesv2.Options)) (*sesv2.GetEmailIdentityOutput, error) {
	x.c.add("GetEmailIdentity", aws.ToString(in.EmailIdentity), x.region)
	return x.inner.GetEmailIdentity(ctx, in, o...)
}

// newClock is a fake clock for TTL tests.
func newClock() *testkit.Clock { return testkit.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) }

// sandboxAccount is a GetAccount answer for a sandboxed account.
func sandboxAccount() *sesv2.GetAccountOutput {
	return testkit.Account(false, types.SuppressionListReasonBounce, types.SuppressionListReasonComplaint)
}

// testDomain returns a domain no other test uses, since kumo's identities
// are shared by the whole process.
func testDomain(t *testing.T) string { return testkit.Name(t) + ".example" }

func hasLine(lines []string, substr string) bool {
	for _, l := range lines {
		if strings.Contains(l, substr) {
			return true
		}
	}
	return false
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
