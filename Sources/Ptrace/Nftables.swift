import Glibc

/// Where nft (Debian's nftables) is on this host, if anywhere.
public enum Nftables {
    public static var path: String? {
        ["/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft"].first { access($0, X_OK) == 0 }
    }
}
