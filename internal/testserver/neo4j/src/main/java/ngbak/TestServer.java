package ngbak;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.HttpConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;

/**
 * A throwaway Neo4j for ngbak's tests: an embedded Community DBMS with the
 * Bolt connector on 127.0.0.1:PORT, auth off, its data in DIR, and the APOC
 * core jar of PLUGINS loaded with file export enabled, and the settings of
 * CONF, a neo4j.conf, when given (the second server's Cypher 25 default).
 * Both servers, ../neo4j-next's too, are built from this file.
 *
 * <pre>java -cp classes:lib/* ngbak.TestServer PORT DIR PLUGINS [CONF]</pre>
 *
 * It prints "ready" once Bolt accepts connections and runs until killed.
 */
public final class TestServer {
    public static void main(String[] args) throws Exception {
        if (args.length != 3 && args.length != 4) {
            System.err.println("usage: TestServer PORT DIR PLUGINS [CONF]");
            System.exit(2);
        }
        int port = Integer.parseInt(args[0]);
        // Neo4j refuses paths with ".." in them.
        Path home = Path.of(args[1]).toAbsolutePath().normalize();
        Path plugins = Path.of(args[2]).toAbsolutePath().normalize();
        Files.createDirectories(home.resolve("conf"));
        Files.createDirectories(home.resolve("import"));
        // APOC reads its settings from apoc.conf beside neo4j.conf, and from
        // system properties.
        Files.writeString(home.resolve("conf/apoc.conf"),
                "apoc.export.file.enabled=true\napoc.import.file.enabled=true\n");
        System.setProperty("apoc.export.file.enabled", "true");
        System.setProperty("apoc.import.file.enabled", "true");

        DatabaseManagementServiceBuilder builder = new DatabaseManagementServiceBuilder(home);
        if (args.length == 4) {
            builder.loadPropertiesFromFile(Path.of(args[3]).toAbsolutePath().normalize());
        }
        DatabaseManagementService dbms = builder
                .setConfig(BoltConnector.enabled, true)
                .setConfig(BoltConnector.listen_address, new SocketAddress("127.0.0.1", port))
                .setConfig(BoltConnector.advertised_address, new SocketAddress("127.0.0.1", port))
                .setConfig(HttpConnector.enabled, false)
                .setConfig(GraphDatabaseSettings.auth_enabled, false)
                .setConfig(GraphDatabaseSettings.plugin_dir, plugins)
                .setConfig(GraphDatabaseSettings.procedure_unrestricted, List.of("apoc.*"))
                .setConfig(GraphDatabaseSettings.procedure_allowlist, List.of("*"))
                .build();
        Runtime.getRuntime().addShutdownHook(new Thread(dbms::shutdown));
        dbms.database(GraphDatabaseSettings.DEFAULT_DATABASE_NAME)
                .executeTransactionally("RETURN 1");
        System.out.println("ready");
        System.out.flush();
        Thread.currentThread().join();
    }
}
