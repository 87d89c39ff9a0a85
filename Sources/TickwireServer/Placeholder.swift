import Hummingbird
import GRDB
import ServiceLifecycle
