package facts

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/sesguard/sesguard/internal/testkit"
)

// kumoURL is the package's one emulator; tests use their own names
// (domains, topics, queues, namespaces) to stay apart.
var kumoURL string

func TestMain(m *testing.M) { testkit.RunWithKumo(m, &kumoURL) }

// kumoClient is a real SES v2 client talking to the emulator. kumo ignores
// the Region, so clients for different Regions see the same identities.
func kumoClient(region string) *sesv2.Client {
	return sesv2.New(sesv2.Options{
		Region:       region,
		BaseEndpoint: aws.String(kumoURL),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
}

func createIdentities(t *testing.T, ids ...string) {
	t.Helper()
	c := kumoClient("us-east-1")
	for _, id := range ids {
		if _, err := c.CreateEmailIdentity(t.Context(), &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String(id)}); err != nil {
			t.Fatalf("create identity %q in kumo: %v", id, err)
		}
		t.Cleanup(func() {
			if _, err := c.DeleteEmailIdentity(context.Background(), &sesv2.DeleteEmailIdentityInput{EmailIdentity: aws.String(id)}); err != nil {
				t.Errorf("delete identity %q in kumo: %v", id, err)
			}
		})
	}
}

// withAccount is the kumo-backed client with GetAccount faked at our
// interface: kumo v0.33.1 has no GetAccount route (it answers 404).
type withAccount struct {
	*sesv2.Client
	account *sesv2.GetAccountOutput
}

func (w withAccount) GetAccount(context.Context, *sesv2.GetAccountInput, ...func(*sesv2.Options)) (*sesv2.GetAccountOutput, error) {
	return w.account, nil
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
	return &sesv2.GetAccountOutput{
		ProductionAccessEnabled: false,
		SendingEnabled:          true,
		EnforcementStatus:       aws.String("HEALTHY"),
		SuppressionAttributes: &types.SuppressionAttributes{
			SuppressedReasons: []types.SuppressionListReason{types.SuppressionListReasonBounce, types.SuppressionListReasonComplaint},
		},
	}
}

// testDomain returns a domain no other test uses, since kumo's identities
// are shared by the whole process.
func testDomain(t *testing.T) string {
	return strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name())) + ".example"
}

func hasLine(lines []string, substr string) bool {
	for _, l := range lines {
		if strings.Contains(l, substr) {
			return true
		}
	}
	return false
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
