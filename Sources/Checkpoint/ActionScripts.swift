import Ptrace

/// The points of a dump and a restore where the user's action scripts
/// run, named as CRIU names them, so that scripts written for CRIU work
/// unchanged.
public enum ScriptAction: String, Sendable, CaseIterable {
    /// Before the tree is frozen.
    case preDump = "pre-dump"
    /// The image is complete; a tree to be killed is still frozen.
    case postDump = "post-dump"
    /// Before the image is read.
    case preRestore = "pre-restore"
    /// Every process exists, in the namespaces the tree had of its own,
    /// before any of its memory or files are made; only for an image
    /// with such namespaces, as CRIU runs it only when it made some. A
    /// script reaches them through /proc/$CRTOOLS_INIT_PID/ns and the
    /// other processes' (nsenter).
    case setupNamespaces = "setup-namespaces"
    /// Every process is made, held before its first instruction.
    case postRestore = "post-restore"
    /// Right before the processes are let go.
    case preResume = "pre-resume"
    /// The processes run.
    case postResume = "post-resume"
}

/// The user's action scripts (--action-script, repeatable): lines of
/// shell code run at each `ScriptAction`, in the order given, to hook a
/// checkpoint into what surrounds the job (move an address, tell a
/// balancer, take a file system snapshot). Each is told where it is run
/// as CRIU tells it: CRTOOLS_SCRIPT_ACTION, CRTOOLS_IMAGE_DIR and, once
/// it is known, CRTOOLS_INIT_PID (the tree's root).
public struct ActionScripts: Sendable {
    public var scripts: [String]
    /// The image directory, absolute: a script may run elsewhere.
    public var imageDirectory: String

    public init(_ scripts: [String] = [], imageDirectory: String = "") {
        self.scripts = scripts
        self.imageDirectory = imageDirectory.isEmpty ? "" : FileSystem.absolute(imageDirectory)
    }

    /// Runs every script at `action`. The first that fails stops the
    /// rest, and the error says which script, how it ended, and
    /// `otherwise`: what became of the tree and the image.
    /// `pid`: the tree's root, nil before the image is read.
    func run(_ action: ScriptAction, pid: Int32?, otherwise: String) throws {
        var environment = ["CRTOOLS_SCRIPT_ACTION": action.rawValue, "CRTOOLS_IMAGE_DIR": imageDirectory]
        if let pid { environment["CRTOOLS_INIT_PID"] = String(pid) }
        for script in scripts {
            let ending = try ShellScript.run(script, environment: environment)
            guard ending.succeeded else {
                throw CheckpointError("the action script `\(script)` failed at \(action.rawValue) (\(ending)); \(otherwise)")
            }
        }
    }
}
