import Ptrace
