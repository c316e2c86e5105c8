import Foundation
import Glibc
import XCTest

/// Debian's mosquitto MQTT broker with a subscriber connected, dumped with
/// --tcp-established and restored. The subscriber, outside the image,
/// keeps its connection and its subscription; a publisher that connects
/// while the broker is only an image waits (the network lock holds its
/// SYNs) and publishes once the broker is back. The subscriber gets every
/// message, in order.
final class MosquittoScenarioTests: EndToEndCase {
    func testSubscriberKeepsItsSessionAndALatePublisherWaits() throws {
        let broker = "/usr/sbin/mosquitto", sub = "/usr/bin/mosquitto_sub", pub = "/usr/bin/mosquitto_pub"
        try requirePrograms(broker, sub, pub, from: "Debian's mosquitto and mosquitto-clients")
        let port = try TestSocket.freeLoopbackPort()
        let dir = try scratch.newDirectory("mosquitto")
        try writeWholeFile(dir + "/mosquitto.conf", Array("listener \(port) 127.0.0.1\nallow_anonymous true\n".utf8))
        let daemon = try startProgram("mosquitto", broker, ["-c", dir + "/mosquitto.conf"], isReady: nil)
        defer { try? stopTree(daemon.pid) }
        XCTAssertTrue(poll(timeout: 15, every: 0.05) { (try? TestSocket.tcp(port: port))?.close() != nil }, "the broker never listened")

        let subscriber = try startProgram("subscriber", sub, ["-p", "\(port)", "-t", "crtool/test"], isReady: nil)
        defer { try? stopTree(subscriber.pid) }
        func publish(_ message: String) throws -> CommandResult {
            try runCommand(pub, ["-p", "\(port)", "-t", "crtool/test", "-m", message], outputPrefix: scratch.newPath("pub"), timeout: 30)
        }
        // The subscription is in place once a message gets through.
        XCTAssertTrue(try poll(timeout: 15, every: 0.2) {
            XCTAssertTrue(try publish("one").succeeded)
            return subscriber.log.lines().contains("one")
        })

        let (image, _) = try checkpointTree(daemon, options: ["--tcp-established"])
        let late = BackgroundWork("late publisher") { try publish("two") }
        usleep(500_000)
        try restore(image, as: daemon)
        XCTAssertTrue(try XCTUnwrap(late.wait(timeout: 30), "the late publisher is still waiting").get().succeeded,
                      "the publisher that connected during the gap got through")
        XCTAssertTrue(try publish("three").succeeded)
        _ = try subscriber.waitFor(line: "three", timeout: 20)
        let after = subscriber.log.lines().filter { !$0.isEmpty }.drop { $0 == "one" }
        XCTAssertEqual(Array(after), ["two", "three"], "every message once, in order")
        XCTAssertTrue(ProcessTable.isAlive(subscriber.pid), "the subscriber kept its connection")
    }
}
