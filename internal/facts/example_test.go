package facts_test

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"

	"github.com/sesguard/sesguard/internal/facts"
)

// sandboxSES answers like an account in the sandbox whose domain is
// verified only in us-west-2.
type sandboxSES struct{ region string }

func (s sandboxSES) GetAccount(context.Context, *sesv2.GetAccountInput, ...func(*sesv2.Options)) (*sesv2.GetAccountOutput, error) {
	return &sesv2.GetAccountOutput{SendingEnabled: true, EnforcementStatus: aws.String("HEALTHY")}, nil
}

func (s sandboxSES) GetEmailIdentity(_ context.Context, in *sesv2.GetEmailIdentityInput, _ ...func(*sesv2.Options)) (*sesv2.GetEmailIdentityOutput, error) {
	if s.region == "us-west-2" && aws.ToString(in.EmailIdentity) == "yourapp.com" {
		return &sesv2.GetEmailIdentityOutput{VerificationStatus: types.VerificationStatusSuccess}, nil
	}
	return nil, &types.NotFoundException{Message: aws.String("not found")}
}

func ExampleGatherer_Gather() {
	// In a function: facts.NewSESv2Factory(cfg) with cfg from awsconfig.Load.
	g := facts.NewGatherer(facts.Config{
		Clients:          func(region string) facts.API { return sandboxSES{region} },
		CandidateRegions: []string{"us-west-2"},
	})
	f := g.Gather(context.Background(), "us-east-1", []string{"NoReply@yourapp.com"})
	b, _ := json.MarshalIndent(f, "", "  ")
	fmt.Println(string(b))
	// Output:
	// {
	//   "sendingRegion": "us-east-1",
	//   "regions": {
	//     "us-east-1": {
	//       "productionAccess": false,
	//       "sendingEnabled": true,
	//       "enforcementStatus": "HEALTHY",
	//       "suppressedReasons": [],
	//       "identities": {}
	//     },
	//     "us-west-2": {
	//       "productionAccess": false,
	//       "sendingEnabled": true,
	//       "enforcementStatus": "HEALTHY",
	//       "suppressedReasons": [],
	//       "identities": {
	//         "yourapp.com": "SUCCESS"
	//       }
	//     }
	//   }
	// }
}
