package broker

import "log/slog"

// LogType is the key of a log attribute that puts a record in one of Mosquitto's log_type
// categories where its level alone would not: the value is "subscribe" or "unsubscribe" for
// the line logged for each filter a client subscribes to ("ID QOS FILTER") or unsubscribes
// from ("ID FILTER"), "error" for "Client ID already connected, closing old connection.", and
// "debug" for "Denied PUBLISH ..." (all Info records). A handler that implements log_type
// (mqtt serve's) reads it and leaves it out of the line; any other handler shows it as an
// ordinary attribute. Records without it are error, warning, notice or debug by their level.
const LogType = "log_type"

var (
	logSubscribe   = slog.String(LogType, "subscribe")
	logUnsubscribe = slog.String(LogType, "unsubscribe")
	logError       = slog.String(LogType, "error")
	logDebug       = slog.String(LogType, "debug")
)
