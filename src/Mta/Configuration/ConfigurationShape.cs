// Compares a configuration tree with the options types it binds to: every unknown key and every value that does not
// convert, each with its full path, found in one pass (the binder stops at the first).
using System.Collections;
using System.ComponentModel;
using System.Globalization;
using System.Reflection;
using Microsoft.Extensions.Configuration;

namespace Mta.Configuration;

/// <summary>
/// Walks an <see cref="IConfiguration"/> beside the type it will be bound to, the way
/// <c>ConfigurationBinder</c> binds: public properties by case-insensitive name, lists by index, dictionaries by key,
/// scalars through their <see cref="TypeConverter"/>. A property typed <see cref="IConfiguration"/> or
/// <see cref="IConfigurationSection"/> is free-form (a plugin's or script's own settings) and not looked into.
/// </summary>
public static class ConfigurationShape
{
    /// <summary>Every problem of <paramref name="configuration"/> against <paramref name="optionsType"/>, in the order of
    /// the configuration; each prints as <c>PATH: unknown key</c> or <c>PATH: 'VALUE' is not a valid TYPE</c>.</summary>
    public static IReadOnlyList<ConfigProblem> Check(IConfiguration configuration, Type optionsType)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(optionsType);
        var errors = new List<ConfigProblem>();
        foreach (var child in configuration.GetChildren()) CheckMember(child, optionsType, errors);
        return errors;
    }

    /// <summary>A child section of an object of type <paramref name="owner"/>: it must name one of its properties.</summary>
    private static void CheckMember(IConfigurationSection section, Type owner, List<ConfigProblem> errors)
    {
        var property = BindableProperty(owner, section.Key);
        if (property is null)
        {
            errors.Add(new ConfigProblem(section.Path, "unknown key", IsUnknownKey: true));
            return;
        }
        CheckValue(section, property.PropertyType, errors);
    }

    /// <summary>A section that binds to a value of <paramref name="type"/>.</summary>
    private static void CheckValue(IConfigurationSection section, Type type, List<ConfigProblem> errors)
    {
        if (IsFreeForm(type)) return;
        var scalar = Nullable.GetUnderlyingType(type) ?? type;
        if (IsScalar(scalar))
        {
            CheckScalar(section, type, scalar, errors);
            return;
        }
        if (DictionaryValueType(type) is { } valueType)
        {
            foreach (var entry in section.GetChildren()) CheckValue(entry, valueType, errors);
            return;
        }
        if (ElementType(type) is { } elementType)
        {
            foreach (var item in section.GetChildren())
            {
                if (!int.TryParse(item.Key, NumberStyles.None, CultureInfo.InvariantCulture, out _))
                    errors.Add(new ConfigProblem(item.Path, "unknown key (a list takes items, not named keys)", IsUnknownKey: true));
                else CheckValue(item, elementType, errors);
            }
            return;
        }
        // An object: a plain value where its members belong is as wrong as an unknown member.
        var members = section.GetChildren().ToList();
        if (members.Count == 0 && !string.IsNullOrEmpty(section.Value))
            errors.Add(new ConfigProblem(section.Path, $"'{section.Value}' given where keys are expected", IsUnknownKey: false));
        foreach (var member in members) CheckMember(member, type, errors);
    }

    private static void CheckScalar(IConfigurationSection section, Type type, Type scalar, List<ConfigProblem> errors)
    {
        if (section.GetChildren().Any())
        {
            errors.Add(new ConfigProblem(section.Path, $"keys given where {Expected(scalar)} is expected", IsUnknownKey: false));
            return;
        }
        var value = section.Value;
        // As the binder: no value binds nothing, and an empty one is null for a nullable type.
        if (value is null || scalar == typeof(string) || (value.Length == 0 && type != scalar)) return;
        try
        {
            _ = TypeDescriptor.GetConverter(scalar).ConvertFromInvariantString(value);
        }
        catch (Exception ex) when (ex is FormatException or NotSupportedException or ArgumentException or OverflowException
                                       || ex.InnerException is FormatException or OverflowException)
        {
            errors.Add(new ConfigProblem(section.Path, $"'{value}' is not {Expected(scalar)}", IsUnknownKey: false));
        }
    }

    private static PropertyInfo? BindableProperty(Type owner, string key)
    {
        for (var type = owner; type is not null && type != typeof(object); type = type.BaseType)
        {
            var property = type.GetProperty(key, BindingFlags.Public | BindingFlags.Instance | BindingFlags.IgnoreCase | BindingFlags.DeclaredOnly);
            if (property is { GetMethod.IsPublic: true } && property.GetIndexParameters().Length == 0) return property;
        }
        return null;
    }

    private static bool IsFreeForm(Type type) => typeof(IConfiguration).IsAssignableFrom(type) || type == typeof(object);

    private static bool IsScalar(Type type) =>
        type.IsPrimitive || type.IsEnum || type == typeof(string) || type == typeof(decimal) || type == typeof(TimeSpan)
        || type == typeof(DateTime) || type == typeof(DateTimeOffset) || type == typeof(Guid) || type == typeof(Uri)
        || (!typeof(IEnumerable).IsAssignableFrom(type) && TypeDescriptor.GetConverter(type).CanConvertFrom(typeof(string))
            && TypeDescriptor.GetConverter(type).GetType() != typeof(TypeConverter));

    private static Type? DictionaryValueType(Type type)
    {
        foreach (var candidate in type.GetInterfaces().Prepend(type))
        {
            if (!candidate.IsGenericType) continue;
            var definition = candidate.GetGenericTypeDefinition();
            if (definition == typeof(IDictionary<,>) || definition == typeof(IReadOnlyDictionary<,>)) return candidate.GetGenericArguments()[1];
        }
        return null;
    }

    private static Type? ElementType(Type type)
    {
        if (type.IsArray) return type.GetElementType();
        foreach (var candidate in type.GetInterfaces().Prepend(type))
            if (candidate.IsGenericType && candidate.GetGenericTypeDefinition() == typeof(IEnumerable<>)) return candidate.GetGenericArguments()[0];
        return null;
    }

    private static string Expected(Type type) => type.IsEnum ? "one of " + string.Join(", ", Enum.GetNames(type)) : Type.GetTypeCode(type) switch
    {
        TypeCode.Int32 or TypeCode.Int64 or TypeCode.UInt32 or TypeCode.UInt64 or TypeCode.Int16 or TypeCode.UInt16 or TypeCode.Byte => "a whole number",
        TypeCode.Double or TypeCode.Single or TypeCode.Decimal => "a number",
        TypeCode.Boolean => "true or false",
        _ when type == typeof(TimeSpan) => "a time span ([d.]hh:mm:ss)",
        _ => "a valid " + type.Name,
    };
}

/// <summary>One problem of a configuration: where, what, and whether it is a key the options do not have (the values
/// can still be bound and range-checked) rather than a value that cannot be bound.</summary>
public sealed record ConfigProblem(string Path, string Message, bool IsUnknownKey)
{
    /// <inheritdoc/>
    public override string ToString() => $"{Path}: {Message}";
}
