// Command mqtt is the multi-call binary: broker, clients, password tool, MQTT-SN gateway and
// load generator. Everything, including dispatch by the name it was invoked as, lives in
// internal/cli.
package main

import (
	"os"

	"github.com/mqttkit/mqtt/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args))
}
