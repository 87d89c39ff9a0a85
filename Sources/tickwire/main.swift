import ArgumentParser
import TickwireServer
print("x")
