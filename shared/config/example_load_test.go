package config_test

import (
	"fmt"

	"github.com/stsrotator/stsrotator/shared/config"
)

func ExampleLoad() {
	cfg, err := config.Load("../../stsrotator.yaml")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, t := range cfg.Targets {
		fmt.Println(t.Name, t.SecretName, t.Duration, t.RefreshBefore)
	}
	fmt.Println("sweep every", cfg.SweepInterval())
	// Output:
	// billing-reader stsrotator/billing-reader 1h0m0s 26m0s
	// deploy-bot stsrotator/deploy-bot 45m0s 26m0s
	// audit-s3 stsrotator/audit-s3 1h0m0s 26m0s
	// sweep every 8m0s
}
