// Who this node is among several: its name, its queue id tag, and this process's instance.
using System.Security.Cryptography;
using Mta.Engine.Configuration;
using Mta.Engine.Spool;

namespace Mta.Engine.Cluster;

/// <summary>This node's identity, from <c>Node</c> and <c>HostName</c>: its name goes into Received fields, log lines and
/// the cluster view; its tag into every queue id it makes.</summary>
public sealed class NodeIdentity
{
    /// <summary>Resolves the identity of a node configured by <paramref name="options"/>.</summary>
    public NodeIdentity(MtaOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        Name = options.Node.ResolveName(options.HostName);
        HostName = options.HostName;
        QueueIdTagValue = QueueIds.TryParseTag(options.Node.QueueIdTag, out var tag) ? tag : QueueIds.TagForNodeName(Name);
        QueueIdTag = QueueIds.FormatTag(QueueIdTagValue);
        QueueIdTagConfigured = options.Node.QueueIdTag is not null;
        HeartbeatInterval = options.Node.HeartbeatInterval;
        ForgetAfter = options.Node.ForgetAfter;
        Instance = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));
    }

    /// <summary><c>Node:Name</c>, else the first label of <c>HostName</c>.</summary>
    public string Name { get; }

    /// <summary><c>HostName</c>: the name in the greeting, often shared by every node behind one MX.</summary>
    public string HostName { get; }

    /// <summary>The two characters of <see cref="QueueIdTagValue"/> as they show inside a queue id.</summary>
    public string QueueIdTag { get; }

    /// <summary>The 10-bit tag every queue id of this node carries.</summary>
    public int QueueIdTagValue { get; }

    /// <summary>Whether the tag was set by <c>Node:QueueIdTag</c> rather than derived from the name.</summary>
    public bool QueueIdTagConfigured { get; }

    /// <summary>This process, distinct from a restart of the same node and from another process given the same name.</summary>
    public string Instance { get; }

    /// <summary><c>Node:HeartbeatInterval</c>.</summary>
    public TimeSpan HeartbeatInterval { get; }

    /// <summary><c>Node:ForgetAfter</c>.</summary>
    public TimeSpan ForgetAfter { get; }
}
